/** `--no-utp` / `--no-tcp`: which transports peer connections use (settings section `transport`). */
import type { PartialEngineSettings } from '@lodestone/engine'
import { usageError } from './cli-error.js'

export interface TransportFlags {
  /** false with --no-utp. */
  utp: boolean
  /** false with --no-tcp. */
  tcp: boolean
}

export const NO_UTP_HELP = 'neither dial nor accept uTP (BEP 29) peer connections'
export const NO_TCP_HELP = 'neither dial nor accept TCP peer connections (uTP only)'

/** The `transport` settings the flags ask for (empty when both are on, the default). */
export function transportSettings (flags: TransportFlags): PartialEngineSettings {
  if (!flags.utp && !flags.tcp) throw usageError('--no-utp and --no-tcp together leave no way to reach peers')
  if (flags.utp && flags.tcp) return {}
  return { transport: { utp: flags.utp, tcp: flags.tcp } }
}
