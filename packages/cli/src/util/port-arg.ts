/** `--port N`: a listening port, 0 for any free one. */
import { InvalidArgumentError } from 'commander'

export function parsePort (text: string): number {
  if (!/^\d{1,5}$/.test(text.trim())) throw new InvalidArgumentError(`"${text}" is not a port number`)
  const port = Number(text)
  if (port > 65_535) throw new InvalidArgumentError(`${port} is outside 0-65535`)
  return port
}
