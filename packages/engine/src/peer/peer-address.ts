/**
 * Peer addresses as the engine passes them around: a host (IPv4 dotted quad, IPv6 without
 * brackets, or a name) and a port. The string form `host:port` / `[v6]:port` is the key used for
 * duplicate detection and by `torrent.addPeer('127.0.0.1:6881')`.
 */
import { LodestoneError } from '../errors.js'

export interface PeerAddress {
  /** IPv4 dotted quad, IPv6 (no brackets) or a host name. */
  host: string
  /** 1..65535 */
  port: number
}

/**
 * Parses `host:port`, `[v6]:port` or a `{ host, port }` object.
 * @throws LodestoneError ADDRESS_INVALID when the text is not an address with a valid port.
 */
export function parsePeerAddress (input: string | PeerAddress): PeerAddress {
  if (typeof input !== 'string') {
    if (!isValidPort(input.port) || input.host.length === 0) throw invalid(`${input.host}:${input.port}`)
    return { host: stripBrackets(input.host), port: input.port }
  }
  const text = input.trim()
  let host: string
  let portText: string
  if (text.startsWith('[')) {
    const close = text.indexOf(']')
    if (close < 0 || text[close + 1] !== ':') throw invalid(input)
    host = text.slice(1, close)
    portText = text.slice(close + 2)
  } else {
    const colon = text.lastIndexOf(':')
    if (colon <= 0 || text.indexOf(':') !== colon) throw invalid(input)
    host = text.slice(0, colon)
    portText = text.slice(colon + 1)
  }
  if (!/^\d{1,5}$/.test(portText)) throw invalid(input)
  const port = Number(portText)
  if (!isValidPort(port) || host.length === 0 || /[\s/]/.test(host)) throw invalid(input)
  return { host, port }
}

/** `host:port`, with brackets around IPv6 hosts. The key for maps and sets of addresses. */
export function formatPeerAddress (address: PeerAddress): string {
  return address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`
}

function stripBrackets (host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host
}

function isValidPort (port: number): boolean {
  return Number.isInteger(port) && port >= 1 && port <= 65535
}

function invalid (address: string): LodestoneError<'ADDRESS_INVALID'> {
  return new LodestoneError('ADDRESS_INVALID', { address }, { message: `not a peer address: ${address}` })
}

/**
 * Where the engine learned of a peer: a tracker announce, BEP 11 peer exchange, an incoming
 * connection, `torrent.addPeer` (manual), a magnet link's `x.pe`, or the resume data of an
 * earlier session, the DHT (BEP 5) or local peer discovery (BEP 14). The first source that reported
 * an address is kept. `'webseed'` marks a BEP 19 HTTP source (its address is the URL).
 */
export type PeerSource = 'tracker' | 'pex' | 'incoming' | 'manual' | 'magnet' | 'resume' | 'webseed' | 'dht' | 'lsd'
