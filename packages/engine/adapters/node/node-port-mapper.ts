/**
 * IPortMapper on Node (issue 12): UPnP IGD over node:dgram (SSDP) and fetch (description, SOAP),
 * NAT-PMP over node:dgram to the default gateway (read from /proc/net/route on Linux, or given).
 * The message formats are the core's (src/portmap/); this file only sends, waits and retries.
 *
 * Our own client rather than an npm one: the maintained library (@achingbrain/nat-port-mapper)
 * brings in libp2p's logger, multiaddr and DNS stack (33 packages), the others are unmaintained
 * (nat-upnp on the deprecated `request`, nat-pmp from 2013); what we need is four SOAP calls and
 * two 12-byte datagrams.
 *
 * - The IGD found is kept (one SSDP search per engine, again only after it stops answering).
 * - Our address in a mapping is the one the kernel routes to the gateway from (a UDP socket
 *   connected to it, no datagram sent), so a multi-homed host names the right interface.
 * - A mapping that conflicts with another host's (UPnP 718) is not moved to another port: the
 *   engine listens on one port, and a different external port would be announced nowhere.
 */
import dgram from 'node:dgram'
import { readFile } from 'node:fs/promises'
import { LodestoneError, isLodestoneError } from '../../src/errors.js'
import type { IPortMapper, PortMappingMethod, PortMappingProtocol, PortMapRequest, PortMapResult } from '../../src/interfaces/port-mapper.js'
import {
  decodeExternalAddressResponse, decodeMapResponse, encodeExternalAddressRequest, encodeMapRequest, EXTERNAL_ADDRESS_OP, mapOpcode, NAT_PMP_PORT, natPmpResponseOp
} from '../../src/portmap/nat-pmp-codec.js'
import {
  addPortMappingArgs, buildMSearch, buildSoapRequest, deletePortMappingArgs, MAX_UPNP_DOCUMENT_BYTES, parseIgdDescription, parseSoapResponse,
  parseSsdpResponse, SSDP_MULTICAST_ADDRESS, SSDP_PORT, SSDP_SEARCH_TARGETS, type IgdService
} from '../../src/portmap/upnp-igd-codec.js'

export interface NodePortMapperSettings {
  /** How long an SSDP search waits for a gateway's answer. @default 3_000 */
  discoveryTimeoutMs: number
  /** Time-out of one HTTP request (description, SOAP call). @default 5_000 */
  requestTimeoutMs: number
  /** NAT-PMP: first retransmission after 250 ms, doubling (RFC 6886 3.1), this many sends. @default 4 */
  natPmpAttempts: number
  /** The NAT-PMP gateway; null: the default route's gateway. @default null */
  natPmpGateway: string | null
  /** The gateway's NAT-PMP port (RFC 6886: 5351; another only for tests). @default 5351 */
  natPmpPort: number
}

export const defaultNodePortMapperSettings: Readonly<NodePortMapperSettings> = {
  discoveryTimeoutMs: 3_000, requestTimeoutMs: 5_000, natPmpAttempts: 4, natPmpGateway: null, natPmpPort: NAT_PMP_PORT
}

interface Gateway { service: IgdService, host: string, internalAddress: string }

/** UPnP IGD and NAT-PMP through the platform's sockets; the engine's `portMapper` in the Node preset. */
export class NodePortMapper implements IPortMapper {
  private readonly settings: NodePortMapperSettings
  private igd: Promise<Gateway> | null = null
  private closed = false

  constructor (settings: Partial<NodePortMapperSettings> = {}) {
    this.settings = { ...defaultNodePortMapperSettings, ...settings }
  }

  async map (request: PortMapRequest): Promise<PortMapResult> {
    const reasons: string[] = []
    for (const method of request.methods) {
      if (this.closed) break
      try {
        return method === 'upnp' ? await this.mapUpnp(request) : await this.mapNatPmp(request)
      } catch (error) {
        if (request.signal?.aborted === true) throw this.fail(request.protocol, request.internalPort, method, 'aborted')
        reasons.push(`${method}: ${describe(error)}`)
      }
    }
    throw this.fail(request.protocol, request.internalPort, request.methods.at(-1) ?? 'none', reasons.join('; ') || 'closed')
  }

  async unmap (mapping: PortMapResult, options: { signal?: AbortSignal } = {}): Promise<void> {
    try {
      if (mapping.method === 'upnp') {
        const gateway = await this.gateway(options.signal)
        await this.soap(gateway, 'DeletePortMapping', deletePortMappingArgs(mapping.externalPort, mapping.protocol), options.signal)
      } else {
        const reply = await this.natPmpExchange(mapping.gateway, encodeMapRequest(mapping.protocol, mapping.internalPort, 0, 0), mapOpcode(mapping.protocol), options.signal)
        decodeMapResponse(reply.bytes, mapping.protocol, mapping.internalPort)
      }
    } catch (error) {
      throw isLodestoneError(error) ? error : this.fail(mapping.protocol, mapping.internalPort, mapping.method, describe(error))
    }
  }

  close (): void {
    this.closed = true
    this.igd = null
  }

  private async mapUpnp (request: PortMapRequest): Promise<PortMapResult> {
    const gateway = await this.gateway(request.signal)
    const externalPort = request.externalPort ?? request.internalPort
    const add = async (leaseSec: number): Promise<void> => {
      await this.soap(gateway, 'AddPortMapping', addPortMappingArgs({
        externalPort, protocol: request.protocol, internalPort: request.internalPort, internalClient: gateway.internalAddress, description: request.description, leaseSec
      }), request.signal)
    }
    let lifetimeSec = request.lifetimeSec
    try {
      await add(lifetimeSec)
    } catch (error) {
      // 725 OnlyPermanentLeasesSupported (IGD:1 routers): ask for a permanent one; the engine refreshes it.
      if (!(error instanceof SoapFault) || error.code !== 725) throw error
      lifetimeSec = 0
      await add(0)
    }
    const external = await this.soap(gateway, 'GetExternalIPAddress', [], request.signal).catch(() => null)
    const address = external?.get('NewExternalIPAddress') ?? ''
    return {
      protocol: request.protocol,
      internalPort: request.internalPort,
      externalPort,
      lifetimeSec,
      method: 'upnp',
      gateway: gateway.host,
      internalAddress: gateway.internalAddress,
      externalAddress: address === '' ? null : address
    }
  }

  private async mapNatPmp (request: PortMapRequest): Promise<PortMapResult> {
    const gateway = this.settings.natPmpGateway ?? await defaultGateway()
    if (gateway === null) throw new Error('no default gateway')
    const externalReply = await this.natPmpExchange(gateway, encodeExternalAddressRequest(), EXTERNAL_ADDRESS_OP, request.signal)
    const external = decodeExternalAddressResponse(externalReply.bytes)
    const reply = await this.natPmpExchange(gateway, encodeMapRequest(request.protocol, request.internalPort, request.externalPort ?? request.internalPort, request.lifetimeSec), mapOpcode(request.protocol), request.signal)
    const mapped = decodeMapResponse(reply.bytes, request.protocol, request.internalPort)
    return {
      protocol: request.protocol,
      internalPort: request.internalPort,
      externalPort: mapped.externalPort,
      lifetimeSec: mapped.lifetimeSec,
      method: 'natpmp',
      gateway,
      internalAddress: reply.localAddress,
      externalAddress: external.address
    }
  }

  /** The IGD found by SSDP (kept; searched again after a failure). */
  private async gateway (signal: AbortSignal | undefined): Promise<Gateway> {
    this.igd ??= this.discover(signal)
    const pending = this.igd
    try {
      return await pending
    } catch (error) {
      if (this.igd === pending) this.igd = null
      throw error
    }
  }

  private async discover (signal: AbortSignal | undefined): Promise<Gateway> {
    const locations = await this.ssdpSearch(signal)
    let lastError: unknown = new Error('no UPnP gateway answered the SSDP search')
    for (const location of locations) {
      try {
        const xml = await this.fetchText(location, { method: 'GET' }, signal)
        const service = parseIgdDescription(xml, location)[0]
        if (service === undefined) throw new Error(`${location} has no WANIPConnection / WANPPPConnection service`)
        const host = new URL(service.controlUrl).hostname
        return { service, host, internalAddress: await localAddressTowards(host) }
      } catch (error) {
        lastError = error
      }
    }
    throw lastError
  }

  /** Sends the M-SEARCHes and collects the LOCATIONs that answer within the discovery time-out. */
  private async ssdpSearch (signal: AbortSignal | undefined): Promise<string[]> {
    const socket = dgram.createSocket({ type: 'udp4' })
    const locations: string[] = []
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject)
        socket.bind(0, () => { socket.off('error', reject); resolve() })
      })
      return await new Promise<string[]>((resolve, reject) => {
        const done = (): void => { clearTimeout(timer); signal?.removeEventListener('abort', onAbort); resolve(locations) }
        const onAbort = (): void => { clearTimeout(timer); reject(new Error('aborted')) }
        const timer = setTimeout(done, this.settings.discoveryTimeoutMs)
        signal?.addEventListener('abort', onAbort, { once: true })
        socket.on('error', () => {}) // an ICMP error for one search must not end the others
        socket.on('message', (msg) => {
          const answer = parseSsdpResponse(msg.toString('latin1'))
          if (answer === null || locations.includes(answer.location)) return
          locations.push(answer.location)
          done() // the first gateway is enough; others that answered in the same instant are kept as fallbacks
        })
        for (const target of SSDP_SEARCH_TARGETS) socket.send(buildMSearch(target), SSDP_PORT, SSDP_MULTICAST_ADDRESS)
      })
    } finally {
      socket.close()
    }
  }

  private async soap (gateway: Gateway, action: string, args: ReadonlyArray<readonly [string, string | number]>, signal: AbortSignal | undefined): Promise<Map<string, string>> {
    const { body, soapAction } = buildSoapRequest(gateway.service.serviceType, action, args)
    const xml = await this.fetchText(gateway.service.controlUrl, {
      method: 'POST',
      headers: { 'Content-Type': 'text/xml; charset="utf-8"', SOAPAction: soapAction },
      body
    }, signal, true)
    const result = parseSoapResponse(xml, action)
    if (!result.ok) throw new SoapFault(action, result.errorCode, result.errorDescription)
    return result.values
  }

  /** GET/POST with a time-out and a size limit; `acceptErrors` reads the body of a 500 (a SOAP fault). */
  private async fetchText (url: string, init: RequestInit, signal: AbortSignal | undefined, acceptErrors = false): Promise<string> {
    const timeout = AbortSignal.timeout(this.settings.requestTimeoutMs)
    const response = await fetch(url, { ...init, redirect: 'error', signal: signal !== undefined ? AbortSignal.any([signal, timeout]) : timeout })
    if (!response.ok && !(acceptErrors && response.status === 500)) {
      await response.body?.cancel()
      throw new Error(`${url}: HTTP ${response.status}`)
    }
    const reader = (response.body as ReadableStream<Uint8Array> | null)?.getReader()
    if (reader === undefined) return ''
    const chunks: Uint8Array[] = []
    let total = 0
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      total += value.byteLength
      if (total > MAX_UPNP_DOCUMENT_BYTES) {
        await reader.cancel()
        throw new Error(`${url}: answer larger than ${MAX_UPNP_DOCUMENT_BYTES} bytes`)
      }
      chunks.push(value)
    }
    return Buffer.concat(chunks).toString('utf8')
  }

  /** One NAT-PMP request to `gateway`, retransmitted at 250 ms, 500 ms, … until a matching answer. */
  private async natPmpExchange (gateway: string, request: Uint8Array, op: number, signal: AbortSignal | undefined): Promise<{ bytes: Uint8Array, localAddress: string }> {
    const socket = dgram.createSocket({ type: 'udp4' })
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject)
        socket.connect(this.settings.natPmpPort, gateway, () => { socket.off('error', reject); resolve() })
      })
      const localAddress = socket.address().address
      return await new Promise((resolve, reject) => {
        let attempt = 0
        let timer: NodeJS.Timeout | null = null
        const finish = (error: Error | null, bytes?: Uint8Array): void => {
          if (timer !== null) clearTimeout(timer)
          signal?.removeEventListener('abort', onAbort)
          if (error !== null) reject(error)
          else resolve({ bytes: bytes!, localAddress })
        }
        const onAbort = (): void => { finish(new Error('aborted')) }
        const send = (): void => {
          if (attempt >= this.settings.natPmpAttempts) { finish(new Error(`no NAT-PMP answer from ${gateway}`)); return }
          socket.send(request)
          timer = setTimeout(send, 250 << attempt++)
        }
        signal?.addEventListener('abort', onAbort, { once: true })
        // ECONNREFUSED (ICMP port unreachable): the gateway does not speak NAT-PMP.
        socket.on('error', (error) => { finish(new Error(`${gateway}: ${error.message}`)) })
        socket.on('message', (msg) => {
          if (natPmpResponseOp(msg) === op) finish(null, new Uint8Array(msg))
        })
        send()
      })
    } finally {
      socket.close()
    }
  }

  private fail (protocol: PortMappingProtocol, internalPort: number, method: PortMappingMethod | 'none', reason: string): LodestoneError<'PORT_MAPPING_FAILED'> {
    return new LodestoneError('PORT_MAPPING_FAILED', { protocol, internalPort, method, reason })
  }
}

/** A UPnP error answer (errorCode, e.g. 718 ConflictInMappingEntry, 725 OnlyPermanentLeasesSupported). */
class SoapFault extends Error {
  constructor (action: string, readonly code: number | null, description: string) {
    super(`${action}: UPnP error ${code ?? '?'} ${description}`)
  }
}

/** The IPv4 default route's gateway from /proc/net/route (Linux), else null. */
export async function defaultGateway (): Promise<string | null> {
  const table = await readFile('/proc/net/route', 'latin1').catch(() => '')
  for (const line of table.split('\n').slice(1)) {
    const [, destination, gatewayHex, flags] = line.trim().split(/\s+/)
    // RTF_GATEWAY (0x2) on the 0.0.0.0 destination; addresses are little-endian hex.
    if (destination !== '00000000' || gatewayHex === undefined || flags === undefined || (parseInt(flags, 16) & 2) === 0) continue
    const n = parseInt(gatewayHex, 16)
    return [n & 255, (n >>> 8) & 255, (n >>> 16) & 255, n >>> 24].join('.')
  }
  return null
}

/** The local address the kernel would send from to reach `host` (a connected UDP socket; nothing is sent). */
async function localAddressTowards (host: string): Promise<string> {
  const socket = dgram.createSocket({ type: 'udp4' })
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject)
      socket.connect(9, host, () => { socket.off('error', reject); resolve() })
    })
    return socket.address().address
  } finally {
    socket.close()
  }
}

function describe (error: unknown): string {
  if (isLodestoneError(error) && error.code === 'PORT_MAPPING_FAILED') return (error as LodestoneError<'PORT_MAPPING_FAILED'>).details.reason
  return error instanceof Error ? error.message : String(error)
}
