/**
 * `--no-port-mapping` (download, seed): no UPnP IGD / NAT-PMP mapping of the listen port (settings
 * `portMapping.enabled`), and the 'port-mapping' lines the session prints while it is on.
 */
import type { PartialEngineSettings, PortMappingEvent } from '@lodestone/engine'
import { describeError } from './cli-error.js'
import type { SessionEvent } from './session-reporter.js'

export interface PortMappingFlags {
  /** false with --no-port-mapping. */
  portMapping: boolean
}

export const NO_PORT_MAPPING_HELP = 'do not ask the router (UPnP IGD / NAT-PMP) to forward the listen port'

/** The settings the flag asks for (nothing by default: the engine maps unless bound to loopback). */
export function portMappingSettings (flags: PortMappingFlags): PartialEngineSettings {
  return flags.portMapping ? {} : { portMapping: { enabled: false } }
}

/** The JSON line and the terminal line for one 'port-mapping' event. */
export function portMappingLine (e: PortMappingEvent): { event: SessionEvent, human: string } {
  const what = `port ${e.internalPort}/${e.protocol.toUpperCase()}`
  const human = e.state === 'mapped'
    ? `${what} mapped: ${e.externalAddress ?? 'external address unknown'}:${e.externalPort ?? '?'} (${e.method ?? '?'})`
    : `${what} mapping ${e.state}${e.error !== undefined ? `: ${describeError(e.error)}` : ''}`
  return {
    event: {
      type: 'port-mapping',
      protocol: e.protocol,
      internalPort: e.internalPort,
      state: e.state,
      externalPort: e.externalPort,
      externalAddress: e.externalAddress,
      method: e.method,
      renewal: e.renewal,
      ...(e.error !== undefined ? { error: e.error.code, message: describeError(e.error) } : {})
    },
    human
  }
}
