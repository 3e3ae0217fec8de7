/** `--peer HOST:PORT` values, checked when the flag is parsed (the engine checks again on use). */
import { InvalidArgumentError } from 'commander'

/**
 * Accepts `host:port` (a hostname or IPv4) and `[ipv6]:port`, port 1–65535; returns the text
 * unchanged for `torrent.addPeer`.
 * @throws InvalidArgumentError naming what is wrong.
 */
export function parsePeerArg (text: string): string {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(text.trim())
  if (m === null) throw new InvalidArgumentError(`"${text}" is not HOST:PORT (IPv6 as [ADDR]:PORT)`)
  const port = Number(m[3])
  if (port < 1 || port > 65_535) throw new InvalidArgumentError(`"${text}": port ${port} is outside 1-65535`)
  if (m[1] !== undefined && !m[1].includes(':')) throw new InvalidArgumentError(`"${text}": brackets are for IPv6 addresses`)
  return text.trim()
}

/** Commander collector for a repeatable `--peer`. */
export function collectPeer (value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), parsePeerArg(value)]
}
