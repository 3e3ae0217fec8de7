/**
 * ut_metadata end to end over two real PeerConnections (FakeSocket pairs): a serving side with
 * the info dict, a magnet side with the MetadataFetcher as sink. Proves the plug-in's wiring:
 * `metadata_size` in the handshake, requests and data on the wire, and a peer serving metadata
 * that does not match the info hash being closed with METADATA_INVALID before an honest one
 * completes the fetch.
 */
import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { ManualClock } from '../../../adapters/memory/manual-clock.js'
import { MetadataFetcher } from '../../../src/metadata/metadata-fetcher.js'
import { PeerConnection } from '../../../src/peer/peer-connection.js'
import { resolvePeerSettings } from '../../../src/peer/peer-settings.js'
import type { LodestoneError } from '../../../src/errors.js'
import type { HashAlgorithm, IHasher } from '../../../src/interfaces/hasher.js'
import type { TorrentMetainfo } from '../../../src/metainfo/types.js'
import { bencodeEncode } from '../../../src/protocol/bencode.js'
import { createUtMetadataExtension } from '../../../src/protocol/ut-metadata.js'
import { FakeSocket, INFO_HASH, LOCAL_ID, REMOTE_ID, flush } from '../peer/peer-test-kit.js'

class NodeHasher implements IHasher {
  readonly concurrency = 1
  async digest (algorithm: HashAlgorithm, data: Uint8Array | readonly Uint8Array[]): Promise<Uint8Array> {
    const h = createHash(algorithm)
    for (const d of data instanceof Uint8Array ? [data] : data) h.update(d)
    return new Uint8Array(h.digest())
  }

  async close (): Promise<void> {}
}

// ~41 KB: three metadata pieces.
const pieces = new Uint8Array(2048 * 20).map((_, i) => (i * 13) & 0xff)
const INFO = bencodeEncode({ length: 2048 * 16_384, name: 'x.bin', 'piece length': 16_384, pieces })
const EVIL = INFO.slice()
EVIL[INFO.length - 100] = (EVIL[INFO.length - 100]! ^ 1) & 0xff

function connect (clock: ManualClock, fetcher: MetadataFetcher, served: Uint8Array | null): { magnetSide: PeerConnection, servingSide: PeerConnection, closed: Array<LodestoneError | undefined> } {
  const [a, b] = FakeSocket.pair()
  const settings = resolvePeerSettings({})
  const magnetSide = new PeerConnection({ socket: a, clock }, settings, {
    infoHash: INFO_HASH, localPeerId: LOCAL_ID, outgoing: true,
    extensions: [createUtMetadataExtension({ metadata: () => null, sink: fetcher })]
  })
  const servingSide = new PeerConnection({ socket: b, clock }, settings, {
    infoHash: INFO_HASH, localPeerId: REMOTE_ID, outgoing: false, pieceCount: 2048,
    extensions: [createUtMetadataExtension({ metadata: () => served })]
  })
  const closed: Array<LodestoneError | undefined> = []
  magnetSide.on('closed', ({ reason }) => closed.push(reason))
  return { magnetSide, servingSide, closed }
}

describe('ut_metadata over real peer connections', () => {
  it('closes a peer serving metadata that does not match, then fetches it from an honest one', async () => {
    const clock = new ManualClock()
    const fetcher = new MetadataFetcher({ hasher: new NodeHasher(), clock }, {
      infoHashV1: new Uint8Array(createHash('sha1').update(INFO).digest()), infoHashV2: null, trackers: [], webSeeds: []
    })
    const results: TorrentMetainfo[] = []
    const warnings: LodestoneError[] = []
    fetcher.on('metadata', ({ meta }) => results.push(meta))
    fetcher.on('warning', ({ error }) => warnings.push(error))

    const evil = connect(clock, fetcher, EVIL)
    await flush(30)
    expect(evil.magnetSide.extendedHandshake?.metadataSize).toBe(INFO.length)
    expect(evil.closed.map((r) => r?.code)).toEqual(['METADATA_INVALID'])
    expect(warnings.map((w) => w.code)).toEqual(['METADATA_INVALID'])
    expect(results).toHaveLength(0)

    const honest = connect(clock, fetcher, INFO)
    await flush(30)
    expect(results).toHaveLength(1)
    expect(Buffer.compare(results[0]!.infoBytes, INFO)).toBe(0)
    expect(results[0]!.pieceCount).toBe(2048)
    honest.magnetSide.close()
    evil.servingSide.close()
    honest.servingSide.close()
  })

  it('a side without metadata announces no metadata_size and is never asked', async () => {
    const clock = new ManualClock()
    const fetcher = new MetadataFetcher({ hasher: new NodeHasher(), clock }, {
      infoHashV1: new Uint8Array(createHash('sha1').update(INFO).digest()), infoHashV2: null, trackers: [], webSeeds: []
    })
    const { magnetSide, servingSide, closed } = connect(clock, fetcher, null)
    await flush(30)
    // No metadata_size announced: the fetcher never asks it.
    expect(magnetSide.extendedHandshake?.metadataSize).toBeUndefined()
    expect(fetcher.stats().sizeBytes).toBeNull()
    expect(closed).toEqual([])
    magnetSide.close()
    servingSide.close()
  })
})
