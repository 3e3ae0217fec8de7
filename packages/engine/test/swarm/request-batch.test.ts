import { afterEach, describe, expect, it, vi } from 'vitest'
import type { ITcpSocket } from '../../src/interfaces/socket.js'
import { encodeHandshake, HandshakeDecoder } from '../../src/protocol/handshake.js'
import { createMessageCollector, MessageParser } from '../../src/protocol/message-parser.js'
import { encodeBitfield, encodePiece, encodeUnchoke, type WireMessage } from '../../src/protocol/wire-messages.js'
import { PiecePicker } from '../../src/torrent/piece-picker.js'
import { SwarmWorld, makeTorrent, payload } from './swarm-world.js'

const PIECE = 65_536
const PIECES = 32
const DEPTH = 16

afterEach(() => { vi.restoreAllMocks() })

// The download path's CPU depends on this (bench/download/RESULTS.md, session 6): the blocks of one
// socket read are handled one by one, but the refill after them is one pick and one burst of
// REQUESTs for the whole read, not one per block.
describe('swarm: the blocks of one socket read', () => {
  it('cause one refill, which brings the request queue back to its depth', async () => {
    // Segments as large as the burst: the leecher reads all its blocks in one chunk.
    const world = new SwarmWorld(31, { segmentBytes: 1 << 20 })
    const data = payload(PIECES * PIECE, 7)
    const torrentBytes = makeTorrent('file.bin', data, PIECE)
    const leech = world.addNode('10.0.0.2', { settings: { discovery: { pex: false }, peer: { minPipelineDepth: DEPTH, maxPipelineDepth: DEPTH } } })
    const t = await leech.engine.addTorrent(torrentBytes)
    await world.clock.runUntil(() => t.state === 'downloading', 10_000)

    // A bare seed: it dials the leecher, has every piece, unchokes, and answers only when told.
    let connected: ITcpSocket | null = null
    void world.network.host('10.0.0.9').connectTcp('10.0.0.2', 6881, {}).then((s) => { connected = s })
    await world.clock.runUntil(() => connected !== null, 5_000)
    const socket = connected as ITcpSocket | null
    if (socket === null) throw new Error('could not connect')
    const decoder = new HandshakeDecoder()
    const requests: Array<Extract<WireMessage, { type: 'request' }>> = []
    const parser = new MessageParser(createMessageCollector((m) => { if (m.type === 'request') requests.push(m) }))
    socket.onData((chunk) => {
      let rest = chunk
      while (rest.length > 0 && decoder.stage !== 'done') rest = rest.subarray(decoder.push(rest))
      if (rest.length > 0) parser.push(rest)
    })
    socket.send(encodeHandshake({ infoHash: t.infoHash, peerId: new Uint8Array(20).fill(9), features: { extensionProtocol: false, fastExtension: false, dht: false } }))
    await world.clock.runUntil(() => decoder.stage === 'done', 5_000)
    socket.send(encodeBitfield(new Uint8Array(PIECES / 8).fill(0xff)))
    socket.send(encodeUnchoke())
    expect(await world.clock.runUntil(() => requests.length >= DEPTH, 5_000)).toBe(true)
    await world.clock.advanceAsync(100)
    expect(requests.length).toBe(DEPTH) // the queue is full: nothing more until blocks arrive

    // Half the queue answered in one send, which the leecher reads as one chunk.
    const picks = vi.spyOn(PiecePicker.prototype, 'pickBlocks')
    const answered = requests.slice(0, DEPTH / 2)
    const parts = answered.map((r) => encodePiece(r.piece, r.begin, data.subarray(r.piece * PIECE + r.begin, r.piece * PIECE + r.begin + r.length)))
    const burst = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
    let offset = 0
    for (const p of parts) { burst.set(p, offset); offset += p.length }
    socket.send(burst)
    expect(await world.clock.runUntil(() => requests.length >= DEPTH + answered.length, 5_000)).toBe(true)
    await world.clock.advanceAsync(100)

    expect(t.stats().downloadedBytes).toBe(answered.length * 16_384)
    // One pick for the whole read (a pick per block would be DEPTH / 2 of one block each) ...
    expect(picks.mock.calls.map((call) => call[1])).toEqual([answered.length])
    // ... and the queue is at its depth again, with blocks not asked for before.
    expect(requests.length).toBe(DEPTH + answered.length)
    const keys = new Set(requests.map((r) => `${r.piece}/${r.begin}`))
    expect(keys.size).toBe(requests.length)

    socket.close()
    await world.close()
    expect(world.leaks()).toEqual({ sockets: 0, timers: 0, fileHandles: 0 })
  })
})
