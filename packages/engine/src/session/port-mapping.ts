/**
 * The engine's port mapping (issue 12): once the listener is bound, asks the gateway through the
 * engine's {@link IPortMapper} to forward the listen port, TCP and UDP (the UDP socket shares the
 * TCP port), renews each mapping when half of its granted lease has passed, retries a failed one
 * with a doubling delay, and removes every mapping on close.
 *
 * - Runs only with `discovery.portMapping` and `portMapping.enabled`, with a mapper (the Node
 *   preset has one; a browser has none), and never for an engine bound to a loopback address:
 *   nothing outside the host could use that mapping, and tests bind to 127.0.0.1.
 * - A lease of 0 ("until removed") is still refreshed every `leaseSec`: a router that reboots
 *   forgets its mappings, and a refresh puts them back.
 * - Close waits at most `unmapTimeoutMs` for the gateway: a dead router must not hold up exit.
 */
import type { IClock, ITimer } from '../interfaces/clock.js'
import type { Logger } from '../interfaces/logger.js'
import type { IPortMapper, PortMappingMethod, PortMappingProtocol, PortMapResult } from '../interfaces/port-mapper.js'
export type { IPortMapper } from '../interfaces/port-mapper.js'
import { LodestoneError, isLodestoneError } from '../errors.js'
import type { EngineSettings } from './engine-settings.js'

/** One mapping's state, as `engine.stats().portMapping` shows it. */
export interface PortMappingState {
  protocol: PortMappingProtocol
  internalPort: number
  /** 'pending' until the first answer; 'failed' waits for a retry; 'removed' after close. */
  state: 'pending' | 'mapped' | 'failed' | 'removed'
  externalPort: number | null
  method: PortMappingMethod | null
  gateway: string | null
  /** Engine clock (`now()`) time the granted lease ends; null when not mapped or without expiry. */
  expiresAtMs: number | null
  /** Successful refreshes after the first mapping. */
  renewals: number
  /** Failed attempts in a row. */
  failures: number
  lastError: LodestoneError | null
}

/** `engine.stats().portMapping`. */
export interface PortMappingStats {
  /** False when off (settings, no mapper, loopback listener): `mappings` is then empty. */
  active: boolean
  /** The gateway's external address, from the last mapping that reported one. */
  externalAddress: string | null
  mappings: PortMappingState[]
}

/** Payload of the engine's 'port-mapping' event: one mapping changed state. */
export interface PortMappingEvent {
  protocol: PortMappingProtocol
  internalPort: number
  state: 'mapped' | 'failed' | 'removed'
  externalPort: number | null
  externalAddress: string | null
  method: PortMappingMethod | null
  /** True when this refreshed a mapping that was already in place. */
  renewal: boolean
  error?: LodestoneError
}

export interface EnginePortMappingDeps {
  mapper: IPortMapper | undefined
  clock: IClock
  settings: () => Pick<EngineSettings, 'portMapping' | 'discovery' | 'listen'>
  onEvent: (event: PortMappingEvent) => void
  logger?: Logger | undefined
}

interface Entry {
  view: PortMappingState
  result: PortMapResult | null
  timer: ITimer | null
  retryMs: number
  abort: AbortController | null
}

const DESCRIPTION = 'Lodestone'

export class EnginePortMapping {
  private readonly entries: Entry[] = []
  private externalAddress: string | null = null
  private closed = false

  constructor (private readonly deps: EnginePortMappingDeps) {}

  /** Whether mapping would run for the current settings and mapper. */
  get enabled (): boolean {
    const s = this.deps.settings()
    return this.deps.mapper !== undefined && s.discovery.portMapping && s.portMapping.enabled &&
      (s.portMapping.upnp || s.portMapping.natPmp) && !isLoopbackHost(s.listen.host)
  }

  /** Maps `port` for each protocol (called once the listener is bound); idempotent. */
  start (port: number, protocols: readonly PortMappingProtocol[]): void {
    if (this.closed || this.entries.length > 0 || !this.enabled || port === 0) return
    for (const protocol of protocols) {
      const entry: Entry = {
        view: { protocol, internalPort: port, state: 'pending', externalPort: null, method: null, gateway: null, expiresAtMs: null, renewals: 0, failures: 0, lastError: null },
        result: null,
        timer: null,
        retryMs: this.deps.settings().portMapping.retryMs,
        abort: null
      }
      this.entries.push(entry)
      void this.attempt(entry)
    }
  }

  stats (): PortMappingStats {
    return {
      active: this.entries.length > 0,
      externalAddress: this.externalAddress,
      mappings: this.entries.map((e) => ({ ...e.view }))
    }
  }

  /** Stops renewing and removes every mapping (waiting at most `unmapTimeoutMs` each). */
  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    const timeoutMs = this.deps.settings().portMapping.unmapTimeoutMs
    await Promise.all(this.entries.map(async (entry) => {
      entry.timer?.cancel()
      entry.timer = null
      entry.abort?.abort()
      const mapped = entry.result
      entry.result = null
      if (mapped === null || this.deps.mapper === undefined) return
      const abort = new AbortController()
      const timer = this.deps.clock.setTimeout(() => { abort.abort() }, timeoutMs)
      let error: LodestoneError | undefined
      try {
        await this.deps.mapper.unmap(mapped, { signal: abort.signal })
      } catch (e) {
        error = asMappingError(e, entry.view, mapped.method)
        this.deps.logger?.warn('port mapping removal failed', { protocol: mapped.protocol, error: error.message })
      } finally {
        timer.cancel()
      }
      Object.assign(entry.view, { state: 'removed', expiresAtMs: null })
      this.deps.onEvent({ ...this.eventBase(entry), state: 'removed', ...(error !== undefined ? { error } : {}) })
    }))
  }

  private async attempt (entry: Entry): Promise<void> {
    const mapper = this.deps.mapper
    if (this.closed || mapper === undefined) return
    const s = this.deps.settings().portMapping
    const methods: PortMappingMethod[] = []
    if (s.upnp) methods.push('upnp')
    if (s.natPmp) methods.push('natpmp')
    const abort = new AbortController()
    entry.abort = abort
    const renewal = entry.result !== null
    try {
      const result = await mapper.map({
        protocol: entry.view.protocol,
        internalPort: entry.view.internalPort,
        externalPort: entry.result?.externalPort ?? entry.view.internalPort,
        lifetimeSec: s.leaseSec,
        description: `${DESCRIPTION} ${entry.view.protocol.toUpperCase()} ${entry.view.internalPort}`,
        methods,
        signal: abort.signal
      })
      if (this.closed) {
        // Closed while the request was out and the gateway granted it anyway: take it back.
        await mapper.unmap(result).catch(() => {})
        return
      }
      entry.result = result
      entry.retryMs = s.retryMs
      if (result.externalAddress !== null) this.externalAddress = result.externalAddress
      const grantedSec = result.lifetimeSec > 0 ? result.lifetimeSec : s.leaseSec
      Object.assign(entry.view, {
        state: 'mapped',
        externalPort: result.externalPort,
        method: result.method,
        gateway: result.gateway,
        expiresAtMs: result.lifetimeSec > 0 ? this.deps.clock.now() + result.lifetimeSec * 1000 : null,
        renewals: entry.view.renewals + (renewal ? 1 : 0),
        failures: 0,
        lastError: null
      })
      this.deps.onEvent({ ...this.eventBase(entry), state: 'mapped', renewal })
      this.schedule(entry, grantedSec * 500)
    } catch (e) {
      if (this.closed) return
      const error = asMappingError(e, entry.view, methods[methods.length - 1] ?? 'none')
      Object.assign(entry.view, { state: 'failed', failures: entry.view.failures + 1, lastError: error })
      if (entry.result === null) Object.assign(entry.view, { externalPort: null, expiresAtMs: null })
      this.deps.logger?.info('port mapping failed', { protocol: entry.view.protocol, error: error.message })
      this.deps.onEvent({ ...this.eventBase(entry), state: 'failed', renewal, error })
      // A lease still running keeps its mapping: retry before it ends, else at the back-off delay.
      const untilExpiry = entry.view.expiresAtMs !== null ? (entry.view.expiresAtMs - this.deps.clock.now()) / 2 : Infinity
      this.schedule(entry, Math.max(1_000, Math.min(entry.retryMs, untilExpiry)))
      entry.retryMs = Math.min(entry.retryMs * 2, s.maxRetryMs)
    } finally {
      if (entry.abort === abort) entry.abort = null
    }
  }

  private schedule (entry: Entry, delayMs: number): void {
    entry.timer?.cancel()
    entry.timer = this.deps.clock.setTimeout(() => {
      entry.timer = null
      void this.attempt(entry)
    }, delayMs)
  }

  private eventBase (entry: Entry): Omit<PortMappingEvent, 'state'> {
    return {
      protocol: entry.view.protocol,
      internalPort: entry.view.internalPort,
      externalPort: entry.view.externalPort,
      externalAddress: this.externalAddress,
      method: entry.view.method,
      renewal: false
    }
  }
}

function asMappingError (e: unknown, view: PortMappingState, method: string): LodestoneError {
  if (isLodestoneError(e)) return e
  return new LodestoneError('PORT_MAPPING_FAILED', {
    protocol: view.protocol, internalPort: view.internalPort, method, reason: e instanceof Error ? e.message : String(e)
  }, { cause: e })
}

/** Loopback listen hosts: a mapping to them would serve no one. */
export function isLoopbackHost (host: string): boolean {
  const h = host.toLowerCase()
  return h === 'localhost' || h === '::1' || h.startsWith('127.') || h.startsWith('::ffff:127.')
}
