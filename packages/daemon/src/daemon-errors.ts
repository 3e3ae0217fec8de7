/** The daemon's errors: engine-style typed errors with stable codes (DESIGN rule 7). */
import { LodestoneError } from '@lodestone/engine'

/** A bad daemon setting (config file, flag or reload): names the key, `engine.`-prefixed for engine settings. */
export class DaemonConfigError extends LodestoneError<'SETTINGS_INVALID'> {
  override name = 'DaemonConfigError'
  constructor (key: string, reason: string) {
    super('SETTINGS_INVALID', { key, reason }, { message: key === '' ? reason : `${key}: ${reason}` })
  }
}
