// Test helpers for the metainfo tests: deterministic payloads (same formula as the fixture
// generator in fixtures/README.md) and a synchronous reference merkle tree built with node:crypto.
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { bencodeEncode, type BencodeEncodable } from '../../../src/protocol/bencode.js'

export const FIXTURES = join(import.meta.dirname, 'fixtures')

export function fixture (name: string): Uint8Array {
  return new Uint8Array(readFileSync(join(FIXTURES, name)))
}

/** Byte i of fixture file k: ((i * 31 + k * 17 + (i >> 10)) & 0xff). */
export function content (lengthBytes: number, k: number): Uint8Array {
  const out = new Uint8Array(lengthBytes)
  for (let i = 0; i < lengthBytes; i++) out[i] = (i * 31 + k * 17 + (i >> 10)) & 0xff
  return out
}

export const sha256 = (data: Uint8Array): Uint8Array => new Uint8Array(createHash('sha256').update(data).digest())
export const sha1 = (data: Uint8Array): Uint8Array => new Uint8Array(createHash('sha1').update(data).digest())
export const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

/** Reference: full tree over the file's 16 KiB blocks, zero-padded to a power of two of `minLeaves` at least. */
export function referenceRoot (data: Uint8Array, minLeaves = 1): Uint8Array {
  let row: Uint8Array[] = []
  for (let i = 0; i < data.length; i += 16384) row.push(sha256(data.subarray(i, i + 16384)))
  let n = 1
  while (n < Math.max(row.length, minLeaves)) n *= 2
  while (row.length < n) row.push(new Uint8Array(32))
  while (row.length > 1) {
    const next: Uint8Array[] = []
    for (let i = 0; i < row.length; i += 2) next.push(sha256(Buffer.concat([row[i]!, row[i + 1]!])))
    row = next
  }
  return row[0]!
}

/** A valid v1 torrent over `files` ([path, length] pairs) with real piece hashes of zero bytes. */
export function v1Torrent (opts: { files?: Array<[string[], number]>, pieceLength?: number, name?: string, extra?: Record<string, BencodeEncodable>, info?: Record<string, BencodeEncodable | undefined> } = {}): Uint8Array {
  const pieceLength = opts.pieceLength ?? 16384
  const files = opts.files ?? [[['a.txt'], 20000], [['sub', 'b.bin'], 5]]
  const total = files.reduce((s, [, n]) => s + n, 0)
  const pieces = new Uint8Array(Math.ceil(total / pieceLength) * 20)
  // An `undefined` in opts.info leaves that key out (the encoder skips undefined values).
  const info = {
    name: opts.name ?? 'test',
    'piece length': pieceLength,
    pieces,
    files: files.map(([path, length]) => ({ length, path })),
    ...opts.info
  } as Record<string, BencodeEncodable>
  return bencodeEncode({ announce: 'http://127.0.0.1:1/announce', info, ...opts.extra })
}

