import { describe, expect, it } from 'vitest'
import { ManualClock } from '../../../adapters/memory/manual-clock.js'
import { hasCode } from '../../../src/errors.js'
import { WebCryptoHasher } from '../../../src/hashing/web-crypto-hasher.js'
import { rootFromPieceLayer } from '../../../src/metainfo/merkle.js'
import type { TorrentMetainfo } from '../../../src/metainfo/types.js'
import type { PeerConnection } from '../../../src/peer/peer-connection.js'
import type { HashMessage, HashRequest } from '../../../src/protocol/hash-messages.js'
import { toHex } from '../../../src/util/bytes.js'
import { fileTreeShape, PieceLayerTree, pieceLayerRequests } from '../../../src/v2/merkle-proof.js'
import { createTorrentHashes } from '../../../src/v2/torrent-hashes.js'

const hasher = new WebCryptoHasher()
const PIECE = 16_384
const PIECES = 40

async function fixture (withLayers: boolean) {
  const layer = Uint8Array.from({ length: PIECES * 32 }, (_, i) => (i * 17 + 3) & 0xff)
  const root = await rootFromPieceLayer(hasher, layer, PIECE)
  const lengthBytes = PIECES * PIECE - 10
  const meta = {
    version: 'v2',
    pieceLengthBytes: PIECE,
    pieceLayers: new Map<string, Uint8Array>(withLayers ? [[toHex(root), layer]] : []),
    files: [{ path: ['f'], lengthBytes, offsetBytes: 0, padding: false, attr: '', piecesRoot: root }]
  } as unknown as TorrentMetainfo
  const tree = await PieceLayerTree.build(hasher, layer, fileTreeShape(lengthBytes, PIECE), PIECE)
  return { meta, layer, root, tree }
}

/** The part of a PeerConnection TorrentHashes uses. */
function fakeConn () {
  const sent: HashMessage[] = []
  const closed: unknown[] = []
  const conn = {
    state: 'active',
    sendHashMessage: (m: HashMessage) => { sent.push(m); return true },
    close: (reason: unknown) => { closed.push(reason); conn.state = 'closed' }
  }
  return { conn: conn as unknown as PeerConnection, sent, closed }
}

// Proofs are checked with WebCrypto, which resolves on its own schedule: wait for the outcome (a
// fixed pause failed under load), bounded so a reply that never comes still fails the test.
const settle = async (done: () => boolean = () => false): Promise<void> => {
  const deadline = Date.now() + 5_000
  do await new Promise((resolve) => setTimeout(resolve, 10))
  while (!done() && Date.now() < deadline)
}

describe('TorrentHashes', () => {
  it('answers valid requests with proven hashes and rejects what it cannot prove, never throwing', async () => {
    const { meta, root, tree } = await fixture(true)
    const hashes = createTorrentHashes({ hasher, clock: new ManualClock() }, meta, () => {})!
    expect(hashes.fetching).toBe(false)
    const { conn, sent } = fakeConn()
    const ok: HashRequest = pieceLayerRequests(root, fileTreeShape(PIECES * PIECE - 10, PIECE))[0]!
    const bad: HashRequest[] = [
      { ...ok, piecesRoot: new Uint8Array(32).fill(1) }, // a root we do not have
      { ...ok, baseLayer: 6, index: 0, length: 1, proofLayers: 0 }, // the root's layer (64 leaves: layer 6)
      { ...ok, index: 3, length: 2 }, // not a multiple of length
      { ...ok, proofLayers: 40 } // above the root
    ]
    for (const request of [ok, ...bad]) hashes.onMessage(conn, { type: 'hash-request', request })
    await settle(() => sent.length >= 5)
    // Replies name their request, so they may leave in another order (the first reply builds the tree).
    expect(sent.filter((m) => m.type === 'hash-reject').map((m) => m.request)).toEqual(expect.arrayContaining(bad))
    const answers = sent.filter((m) => m.type === 'hashes')
    expect(answers.length).toBe(1)
    expect(answers[0]?.type === 'hashes' ? answers[0].hashes : null).toEqual(tree.answer(ok))
    expect(sent.length).toBe(5)
  })

  it('fetches missing layers for a pure v2 torrent, closing a peer whose hashes do not prove', async () => {
    const { meta, root, layer, tree } = await fixture(false)
    let completed = 0
    const hashes = createTorrentHashes({ hasher, clock: new ManualClock() }, meta, () => { completed++ })!
    expect(hashes.fetching).toBe(true)
    expect(hashes.missingLayers).toBe(1)
    const liar = fakeConn()
    hashes.pump(liar.conn)
    const asked = liar.sent[0]
    if (asked?.type !== 'hash-request') throw new Error('expected a hash request')
    const forged = tree.answer(asked.request)!.slice()
    forged[0] = (forged[0] ?? 0) ^ 1
    hashes.onMessage(liar.conn, { type: 'hashes', request: asked.request, hashes: forged })
    await settle(() => liar.closed.length > 0)
    expect(hasCode(liar.closed[0], 'PEER_PROTOCOL_VIOLATION')).toBe(true)
    hashes.peerGone(liar.conn)
    const honest = fakeConn()
    hashes.pump(honest.conn)
    const again = honest.sent[0]
    if (again?.type !== 'hash-request') throw new Error('expected a hash request')
    hashes.onMessage(honest.conn, { type: 'hashes', request: again.request, hashes: tree.answer(again.request)! })
    await settle(() => completed > 0)
    expect(completed).toBe(1)
    expect(hashes.fetching).toBe(false)
    expect(meta.pieceLayers.get(toHex(root))).toEqual(layer)
    // Now it serves the layer it fetched.
    const before = honest.sent.length
    hashes.onMessage(honest.conn, { type: 'hash-request', request: again.request })
    await settle(() => honest.sent.length > before)
    expect(honest.sent.at(-1)?.type).toBe('hashes')
  })

  it('is null for v1 torrents and does not fetch for hybrids', async () => {
    const { meta } = await fixture(false)
    expect(createTorrentHashes({ hasher, clock: new ManualClock() }, { ...meta, version: 'v1' }, () => {})).toBeNull()
    expect(createTorrentHashes({ hasher, clock: new ManualClock() }, { ...meta, version: 'hybrid' }, () => {})?.fetching).toBe(false)
  })
})
