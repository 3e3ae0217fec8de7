/** Where the CLI keeps session state by default: `$XDG_DATA_HOME/lodestone`, else `~/.local/share/lodestone`. */
import { homedir } from 'node:os'
import { isAbsolute, join } from 'node:path'

export function defaultStateDir (env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_DATA_HOME
  // The XDG spec says a relative value is invalid and must be ignored.
  const base = xdg !== undefined && xdg !== '' && isAbsolute(xdg) ? xdg : join(homedir(), '.local', 'share')
  return join(base, 'lodestone')
}
