import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { ManualClock } from '../../../adapters/memory/manual-clock.js'
import { MetadataFetcher, type MetadataTarget } from '../../../src/metadata/metadata-fetcher.js'
import type { MetadataFetcherSettings } from '../../../src/metadata/metadata-fetcher-settings.js'
import type { LodestoneError, ProtocolError } from '../../../src/errors.js'
import type { HashAlgorithm, IHasher } from '../../../src/interfaces/hasher.js'
import type { TorrentMetainfo } from '../../../src/metainfo/types.js'
import { bencodeEncode } from '../../../src/protocol/bencode.js'
import { METADATA_PIECE_BYTES, metadataPieceLength, type UtMetadataPeer } from '../../../src/protocol/ut-metadata.js'

class NodeHasher implements IHasher {
  readonly concurrency = 1
  async digest (algorithm: HashAlgorithm, data: Uint8Array | readonly Uint8Array[]): Promise<Uint8Array> {
    const h = createHash(algorithm)
    for (const d of data instanceof Uint8Array ? [data] : data) h.update(d)
    return new Uint8Array(h.digest())
  }

  async close (): Promise<void> {}
}

/** A v1 info dict of about `approxBytes` (a long `pieces` string). */
function infoDict (approxBytes: number): Uint8Array {
  const pieceCount = Math.max(1, Math.floor(approxBytes / 20))
  const pieces = new Uint8Array(pieceCount * 20)
  for (let i = 0; i < pieces.length; i++) pieces[i] = (i * 7) & 0xff
  return bencodeEncode({ length: pieceCount * 16_384, name: 'f.bin', 'piece length': 16_384, pieces })
}

function sha1 (b: Uint8Array): Uint8Array { return new Uint8Array(createHash('sha1').update(b).digest()) }

/** A scripted peer: records requests; answers only when told. */
class FakePeer implements UtMetadataPeer {
  readonly outstanding = new Set<number>()
  readonly requests: number[] = []
  closedWith: ProtocolError | null = null
  constructor (readonly name: string, public metadataSizeBytes: number | undefined, readonly bytes: Uint8Array | null) {}
  request (piece: number): boolean {
    if (this.closedWith !== null || this.outstanding.has(piece)) return false
    this.outstanding.add(piece)
    this.requests.push(piece)
    return true
  }

  forget (piece: number): void { this.outstanding.delete(piece) }
  close (reason: ProtocolError): void { this.closedWith = reason }

  /** Answers every outstanding request with its bytes (through the fetcher, as the plug-in would). */
  answerAll (fetcher: MetadataFetcher): void {
    for (const piece of [...this.outstanding]) {
      this.outstanding.delete(piece)
      const size = this.metadataSizeBytes ?? 0
      const start = piece * METADATA_PIECE_BYTES
      fetcher.onData(this, piece, this.bytes!.subarray(start, start + metadataPieceLength(size, piece)))
    }
  }
}

function make (info: Uint8Array, settings: Partial<MetadataFetcherSettings> = {}, target?: Partial<MetadataTarget>): {
  fetcher: MetadataFetcher
  clock: ManualClock
  results: TorrentMetainfo[]
  warnings: LodestoneError[]
  failures: LodestoneError[]
} {
  const clock = new ManualClock()
  const fetcher = new MetadataFetcher({ hasher: new NodeHasher(), clock }, {
    infoHashV1: sha1(info), infoHashV2: null, trackers: ['http://t.example/announce', 'udp://u.example:80'], webSeeds: ['http://w.example/'], ...target
  }, settings)
  const results: TorrentMetainfo[] = []
  const warnings: LodestoneError[] = []
  const failures: LodestoneError[] = []
  fetcher.on('metadata', ({ meta }) => results.push(meta))
  fetcher.on('warning', ({ error }) => warnings.push(error))
  fetcher.on('failed', ({ error }) => failures.push(error))
  return { fetcher, clock, results, warnings, failures }
}

/** Lets the async hashing and parsing settle. */
async function settle (): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve))
}

function corrupt (bytes: Uint8Array): Uint8Array {
  const out = bytes.slice()
  out[20] = (out[20]! ^ 0xff) & 0xff
  return out
}

describe('MetadataFetcher', () => {
  it('assembles fragmented metadata from two peers, verifies, parses and adds the magnet\'s trackers and web seeds', async () => {
    const info = infoDict(50_000) // 4 metadata pieces, the last one short
    const { fetcher, results } = make(info, { maxRequestsPerPeer: 2 })
    const a = new FakePeer('a', info.length, info)
    const b = new FakePeer('b', info.length, info)
    fetcher.onPeerReady(a)
    fetcher.onPeerReady(b)
    expect(a.requests.length + b.requests.length).toBe(4)
    expect(b.requests).toEqual([2, 3])
    b.answerAll(fetcher)
    a.answerAll(fetcher)
    await settle()
    expect(results).toHaveLength(1)
    const meta = results[0]!
    expect(Buffer.compare(meta.infoBytes, info)).toBe(0)
    expect(meta.announce).toEqual([['http://t.example/announce'], ['udp://u.example:80']])
    expect(meta.urlList).toEqual(['http://w.example/'])
    expect(fetcher.done).toBe(true)
  })

  it('spreads requests within maxRequestsPerPeer', () => {
    const info = infoDict(100_000) // 7 pieces
    const { fetcher } = make(info, { maxRequestsPerPeer: 2 })
    const peers = [1, 2, 3, 4].map((n) => new FakePeer(`p${n}`, info.length, info))
    for (const p of peers) fetcher.onPeerReady(p)
    for (const p of peers) expect(p.outstanding.size).toBeLessThanOrEqual(2)
    expect(new Set(peers.flatMap((p) => p.requests)).size).toBe(7)
  })

  it('closes a sole sender of metadata that does not match the hash, then gets it from another peer', async () => {
    const info = infoDict(30_000)
    const { fetcher, results, warnings } = make(info)
    const evil = new FakePeer('evil', info.length, corrupt(info))
    fetcher.onPeerReady(evil)
    evil.answerAll(fetcher)
    await settle()
    expect(results).toHaveLength(0)
    expect(evil.closedWith).toMatchObject({ code: 'METADATA_INVALID' })
    expect(warnings.map((w) => w.code)).toEqual(['METADATA_INVALID'])
    fetcher.onPeerClosed(evil)
    const good = new FakePeer('good', info.length, info)
    fetcher.onPeerReady(good)
    good.answerAll(fetcher)
    await settle()
    expect(results).toHaveLength(1)
    expect(fetcher.stats().hashFailures).toBe(1)
  })

  it('after a mismatch with several contributors, retries one peer at a time until one verifies', async () => {
    const info = infoDict(40_000) // 3 pieces
    const { fetcher, results, warnings } = make(info, { maxRequestsPerPeer: 2 })
    const evil = new FakePeer('evil', info.length, corrupt(info))
    const good = new FakePeer('good', info.length, info)
    fetcher.onPeerReady(evil)
    fetcher.onPeerReady(good)
    // Both contribute; the corrupted piece 0 is evil's.
    expect(evil.requests).toEqual([0, 1])
    expect(good.requests).toEqual([2])
    evil.answerAll(fetcher)
    good.answerAll(fetcher)
    await settle()
    expect(results).toHaveLength(0)
    expect(warnings[0]?.message).toMatch(/2 peers/)
    expect(evil.closedWith).toBeNull() // nobody can be blamed yet
    // Single-source mode: exactly one peer has requests now.
    const asked = [evil, good].filter((p) => p.outstanding.size > 0)
    expect(asked).toHaveLength(1)
    for (let round = 0; round < 4 && results.length === 0; round++) {
      for (const p of [evil, good]) {
        if (p.closedWith !== null) continue
        p.answerAll(fetcher)
        await settle()
        if (p.closedWith !== null) fetcher.onPeerClosed(p)
      }
    }
    expect(results).toHaveLength(1)
    expect(good.closedWith).toBeNull()
  })

  it('a reject sends the piece to another peer and backs off the rejecting one', async () => {
    const info = infoDict(10_000)
    const { fetcher, results, clock } = make(info, { retryBackoffMs: 5_000 })
    const a = new FakePeer('a', info.length, null)
    fetcher.onPeerReady(a)
    expect(a.requests).toEqual([0])
    a.outstanding.delete(0)
    fetcher.onReject(a, 0)
    const b = new FakePeer('b', info.length, info)
    fetcher.onPeerReady(b)
    expect(b.requests).toEqual([0])
    expect(a.requests).toEqual([0])
    b.outstanding.clear()
    fetcher.onReject(b, 0)
    clock.advance(5_000)
    fetcher.tick()
    expect(a.requests).toEqual([0, 0])
    a.outstanding.clear()
    fetcher.onData(b, 0, info) // b no longer has it outstanding in the fetcher's books: ignored
    await settle()
    expect(results).toHaveLength(0)
  })

  it('re-requests a piece whose request timed out from another peer', async () => {
    const info = infoDict(10_000)
    const { fetcher, results, clock } = make(info, { requestTimeoutMs: 3_000 })
    const slow = new FakePeer('slow', info.length, info)
    const fast = new FakePeer('fast', info.length, info)
    fetcher.onPeerReady(slow)
    fetcher.onPeerReady(fast)
    expect(slow.requests).toEqual([0])
    expect(fast.requests).toEqual([])
    clock.advance(3_000)
    fetcher.tick()
    expect(slow.outstanding.size).toBe(0) // forgotten: a late answer is ignored by the plug-in
    expect(fast.requests).toEqual([0])
    fast.answerAll(fetcher)
    await settle()
    expect(results).toHaveLength(1)
  })

  it('refuses a peer announcing a metadata_size over the limit (closed, nothing requested)', () => {
    const info = infoDict(1000)
    const { fetcher, warnings } = make(info, { maxMetadataBytes: 1_000_000 })
    const huge = new FakePeer('huge', 1_000_001, null)
    fetcher.onPeerReady(huge)
    expect(huge.requests).toEqual([])
    expect(huge.closedWith).toMatchObject({ code: 'METADATA_INVALID' })
    expect(warnings).toHaveLength(1)
    expect(fetcher.peerCount).toBe(0)
  })

  it('does not ask peers that announced no size, nor ones whose size differs from the attempt', () => {
    const info = infoDict(1000)
    const { fetcher } = make(info)
    const silent = new FakePeer('silent', undefined, null)
    const a = new FakePeer('a', info.length, info)
    const other = new FakePeer('other', info.length + 5, null)
    fetcher.onPeerReady(silent)
    fetcher.onPeerReady(a)
    fetcher.onPeerReady(other)
    expect(silent.requests).toEqual([])
    expect(other.requests).toEqual([])
    expect(a.requests).toEqual([0])
  })

  it('ignores data for pieces not requested from that peer, and data after it is done', async () => {
    const info = infoDict(20_000)
    const { fetcher, results } = make(info)
    const a = new FakePeer('a', info.length, info)
    const b = new FakePeer('b', info.length, corrupt(info))
    fetcher.onPeerReady(a)
    fetcher.onData(b, 1, corrupt(info).subarray(16_384)) // b was never asked
    a.answerAll(fetcher)
    await settle()
    expect(results).toHaveLength(1)
    fetcher.onData(a, 0, info.subarray(0, 16_384))
    await settle()
    expect(results).toHaveLength(1)
  })

  it('fails (no peer can fix it) when the dict matching the hash is not a valid torrent', async () => {
    const bogus = bencodeEncode({ name: 'x' })
    const { fetcher, failures, results } = make(bogus)
    const a = new FakePeer('a', bogus.length, bogus)
    fetcher.onPeerReady(a)
    a.answerAll(fetcher)
    await settle()
    expect(results).toHaveLength(0)
    expect(failures.map((f) => f.code)).toEqual(['METADATA_INVALID'])
  })

  it('checks the v2 hash (btmh) too', async () => {
    const info = infoDict(1000)
    const sha256 = new Uint8Array(createHash('sha256').update(info).digest())
    const { fetcher, results } = make(info, {}, { infoHashV1: null, infoHashV2: sha256 })
    const a = new FakePeer('a', info.length, info)
    fetcher.onPeerReady(a)
    a.answerAll(fetcher)
    await settle()
    expect(results).toHaveLength(1)
    const wrong = make(info, {}, { infoHashV2: new Uint8Array(32) })
    const b = new FakePeer('b', info.length, info)
    wrong.fetcher.onPeerReady(b)
    b.answerAll(wrong.fetcher)
    await settle()
    expect(wrong.results).toHaveLength(0)
    expect(b.closedWith).toMatchObject({ code: 'METADATA_INVALID' })
  })
})
