/**
 * BEP 11 peer exchange (`ut_pex`): the message codec.
 *
 * A message is a bencoded dict of compact peer strings: `added` (6 bytes a peer, BEP 23 layout)
 * with one flag byte per peer in `added.f`, `dropped`, and the IPv6 counterparts `added6`,
 * `added6.f`, `dropped6` (18 bytes a peer). The codec keeps both families in one list; the
 * family is a property of the address.
 *
 * Hostile input: the payload is decoded with tight bencode limits (a PEX dict has six keys), and
 * at most `maxPeers` added and `maxPeers` dropped entries are read — the rest is counted, not
 * decoded, so a 500 KiB message costs no more than a small one. Entries that cannot be dialled
 * (port 0, the unspecified address) are skipped without shifting the flags of the others.
 */
import type { PeerAddress } from '../peer/peer-address.js'
import { ProtocolError } from '../errors.js'
import { compactPeerBytes, decodeCompactPeers, encodeCompactPeers, ipFamily, type IpFamily } from '../tracker/compact-peers.js'
import { bencodeDecode, bencodeEncode, getBytes, isBencodeDict, type BencodeEncodable } from './bencode.js'

/** BEP 10 name of the extension. */
export const UT_PEX_NAME = 'ut_pex'

/** `added.f` flag: the peer prefers encrypted connections (BEP 11). */
export const PEX_FLAG_PREFERS_ENCRYPTION = 0x01
/** `added.f` flag: the peer is a seed (or upload-only). */
export const PEX_FLAG_SEED = 0x02
/** `added.f` flag: the peer supports uTP. */
export const PEX_FLAG_UTP = 0x04
/** `added.f` flag: the peer supports the holepunch extension (BEP 55). */
export const PEX_FLAG_HOLEPUNCH = 0x08
/** `added.f` flag: the peer is reachable: the sender made an outgoing connection to it. */
export const PEX_FLAG_REACHABLE = 0x10

/**
 * Largest PEX payload accepted before decoding. libtorrent refuses above 500 KiB; a message with
 * the 50–100 peers real clients send is under 2 KiB.
 */
export const PEX_MAX_MESSAGE_BYTES = 500 * 1024

/** One added peer with its flags. */
export interface PexPeer {
  address: PeerAddress
  /** Bit set of PEX_FLAG_*; 0 when the sender gave no flags. */
  flags: number
}

/** A PEX message, both address families together. */
export interface PexMessage {
  added: PexPeer[]
  dropped: PeerAddress[]
}

/** A decoded message plus what was left out to respect the limit. */
export interface DecodedPexMessage extends PexMessage {
  /** Added entries present in the message but not decoded (beyond `maxPeers`). */
  addedIgnored: number
  /** Dropped entries present in the message but not decoded (beyond `maxPeers`). */
  droppedIgnored: number
}

const PEX_DECODE_LIMITS = { maxDepth: 2, maxItems: 64, maxStringBytes: PEX_MAX_MESSAGE_BYTES, strictKeyOrder: false } as const

/**
 * Encodes a PEX message. Peers whose host is not an IP literal are left out (PEX carries
 * addresses only). Every key is written, empty when there is nothing for it, as libtorrent does.
 */
export function encodePexMessage (message: PexMessage): Uint8Array {
  const dict = new Map<string, BencodeEncodable>()
  for (const family of [4, 6] as const) {
    const suffix = family === 4 ? '' : '6'
    const added = message.added.filter((p) => ipFamily(p.address.host) === family)
    const flags = new Uint8Array(added.length)
    added.forEach((p, i) => { flags[i] = p.flags & 0xff })
    dict.set(`added${suffix}`, encodeCompactPeers(added.map((p) => p.address), family))
    dict.set(`added${suffix}.f`, flags)
    dict.set(`dropped${suffix}`, encodeCompactPeers(message.dropped.filter((a) => ipFamily(a.host) === family), family))
  }
  return bencodeEncode(dict)
}

/**
 * Decodes a PEX payload, reading at most `maxPeers` added and `maxPeers` dropped entries
 * (IPv4 first). A missing or short `added.f` means flags 0 for the peers it does not cover.
 * @throws ProtocolError PEER_MESSAGE_TOO_LARGE above {@link PEX_MAX_MESSAGE_BYTES};
 *   PEER_PROTOCOL_VIOLATION when the payload is not a bencoded dict.
 */
export function decodePexMessage (payload: Uint8Array, maxPeers: number): DecodedPexMessage {
  if (payload.length > PEX_MAX_MESSAGE_BYTES) {
    throw new ProtocolError('PEER_MESSAGE_TOO_LARGE', { lengthBytes: payload.length, limitBytes: PEX_MAX_MESSAGE_BYTES })
  }
  let value
  try {
    value = bencodeDecode(payload, { ...PEX_DECODE_LIMITS, maxTotalBytes: payload.length })
  } catch (error) {
    throw new ProtocolError('PEER_PROTOCOL_VIOLATION', { reason: 'ut_pex message is not valid bencode' }, { cause: error })
  }
  if (!isBencodeDict(value)) throw new ProtocolError('PEER_PROTOCOL_VIOLATION', { reason: 'ut_pex message is not a dict' })
  const out: DecodedPexMessage = { added: [], dropped: [], addedIgnored: 0, droppedIgnored: 0 }
  for (const family of [4, 6] as const) {
    const suffix = family === 4 ? '' : '6'
    const added = getBytes(value, `added${suffix}`)
    if (added !== undefined) {
      const flags = getBytes(value, `added${suffix}.f`)
      out.addedIgnored += readEntries(added, family, maxPeers - out.added.length, (address, i) => {
        out.added.push({ address, flags: flags?.[i] ?? 0 })
      })
    }
    const dropped = getBytes(value, `dropped${suffix}`)
    if (dropped !== undefined) {
      out.droppedIgnored += readEntries(dropped, family, maxPeers - out.dropped.length, (address) => { out.dropped.push(address) })
    }
  }
  return out
}

/** Reads up to `budget` entries of a compact string; returns how many were left unread. */
function readEntries (bytes: Uint8Array, family: IpFamily, budget: number, take: (address: PeerAddress, index: number) => void): number {
  const size = compactPeerBytes(family)
  const count = Math.floor(bytes.length / size)
  const n = Math.max(0, Math.min(count, budget))
  for (let i = 0; i < n; i++) {
    // One entry at a time, so a skipped (undiallable) entry does not shift the flags.
    const [address] = decodeCompactPeers(bytes.subarray(i * size, (i + 1) * size), family)
    if (address !== undefined) take(address, i)
  }
  return count - n
}
