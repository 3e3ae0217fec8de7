import { describe, expect, it } from 'vitest'
import { ManualClock } from '../../../adapters/memory/manual-clock.js'
import {
  ipToBytes, PeerConnection, type PeerConnectionEvents, type PeerConnectionInit
} from '../../../src/peer/peer-connection.js'
import { resolvePeerSettings, type PeerSettings } from '../../../src/peer/peer-settings.js'
import { hasCode, ProtocolError } from '../../../src/errors.js'
import { encodeExtendedHandshake, decodeExtendedHandshake, type PeerExtension } from '../../../src/protocol/extension-protocol.js'
import type { HandshakeFeatures } from '../../../src/protocol/handshake.js'
import { encodeHashMessage, encodeHashReject } from '../../../src/protocol/hash-messages.js'
import { encodeMessage, type WireMessage } from '../../../src/protocol/wire-messages.js'
import { Bitfield } from '../../../src/util/bitfield.js'
import {
  ALL_FEATURES, concat, FakeSocket, flush, INFO_HASH, LOCAL_ID, NO_FEATURES, REMOTE_ID, RemoteView, remoteHandshake
} from './peer-test-kit.js'

const EVENT_NAMES: Array<keyof PeerConnectionEvents> = [
  'handshake-received', 'extended-handshake', 'choked', 'unchoked', 'interested', 'not-interested', 'have', 'bitfield',
  'piece-received', 'wasted-received', 'request-received', 'requests-dropped', 'request-timed-out', 'rejected', 'suggested',
  'allowed-fast', 'hash-message-received', 'port-received', 'snubbed', 'unsnubbed', 'drained', 'warning', 'closed'
]

interface SetupOptions {
  outgoing?: boolean
  settings?: Partial<PeerSettings>
  init?: Partial<PeerConnectionInit>
  /** Leave the piece count unknown (magnet). */
  magnet?: boolean
  features?: HandshakeFeatures
}

function setup (options: SetupOptions = {}) {
  const clock = new ManualClock()
  const socket = new FakeSocket()
  const init: PeerConnectionInit = { infoHash: INFO_HASH, localPeerId: LOCAL_ID, outgoing: options.outgoing ?? true, pieceCount: 20, ...options.init }
  if (options.magnet === true) delete init.pieceCount
  const peer = new PeerConnection({ socket, clock }, resolvePeerSettings(options.settings), init)
  const remote = new RemoteView(socket)
  const events: Array<{ name: string, payload: unknown }> = []
  for (const name of EVENT_NAMES) peer.on(name, (payload) => events.push({ name, payload }))
  const feed = (...messages: WireMessage[]): void => { socket.feed(concat(...messages.map(encodeMessage))) }
  const names = (): string[] => events.map((e) => e.name)
  const payloads = <K extends keyof PeerConnectionEvents>(name: K): Array<PeerConnectionEvents[K]> =>
    events.filter((e) => e.name === name).map((e) => e.payload as PeerConnectionEvents[K])
  const closedReason = (): unknown => (payloads('closed')[0] as { reason?: unknown } | undefined)?.reason
  return { clock, socket, peer, remote, events, feed, names, payloads, closedReason }
}

/** A connection past the handshake, with what it sent so far already read. */
function active (options: SetupOptions = {}) {
  const s = setup(options)
  s.socket.feed(remoteHandshake(options.features ?? ALL_FEATURES))
  s.remote.messages()
  s.events.length = 0
  return s
}

const block = (n: number, fill = 7): Uint8Array => new Uint8Array(n).fill(fill)

describe('PeerConnection handshake', () => {
  it('outgoing: sends its handshake at once, then availability and the extended handshake after the peer\'s', () => {
    const { socket, peer, remote, names, payloads } = setup()
    expect(peer.state).toBe('handshaking')
    const ours = remote.handshake()
    expect(ours?.infoHash).toEqual(INFO_HASH)
    expect(ours?.peerId).toEqual(LOCAL_ID)
    expect(ours?.features).toEqual({ extensionProtocol: true, fastExtension: true, dht: false, v2: false })
    expect(socket.sentBytes().length).toBe(68) // nothing but the handshake yet
    const bytes = remoteHandshake()
    for (let i = 0; i < bytes.length; i++) socket.feed(bytes.subarray(i, i + 1)) // arrives byte by byte
    expect(peer.state).toBe('active')
    expect(names()).toEqual(['handshake-received'])
    const [hs] = payloads('handshake-received')
    expect(hs?.peerId).toEqual(REMOTE_ID)
    expect(hs?.clientName).toBe('Transmission 3.00')
    expect(hs?.features).toEqual({ extensionProtocol: true, fastExtension: true, dht: false, v2: false })
    expect(peer.clientName).toBe('Transmission 3.00')
    expect(remote.types()).toEqual(['have-none', 'extended'])
  })

  it('incoming: stays silent until the info hash arrives, answers before the peer id', () => {
    const { socket, peer, remote } = setup({ outgoing: false })
    expect(socket.sent).toHaveLength(0)
    const bytes = remoteHandshake()
    socket.feed(bytes.subarray(0, 47))
    expect(socket.sent).toHaveLength(0)
    socket.feed(bytes.subarray(47, 50))
    expect(remote.headerSent()).toBe(true)
    expect(peer.state).toBe('handshaking')
    socket.feed(bytes.subarray(50))
    expect(peer.state).toBe('active')
  })

  it('parses messages that arrive in the same chunk as the handshake', () => {
    const { socket, peer, names } = setup()
    socket.feed(concat(remoteHandshake(), encodeMessage({ type: 'have-all' }), encodeMessage({ type: 'unchoke' })))
    expect(names()).toEqual(['handshake-received', 'bitfield', 'unchoked'])
    expect(peer.isSeed).toBe(true)
  })

  it('closes on a wrong info hash or protocol string with PEER_HANDSHAKE_FAILED', () => {
    const a = setup({ outgoing: false })
    a.socket.feed(remoteHandshake(ALL_FEATURES, new Uint8Array(20).fill(9)))
    expect(hasCode(a.closedReason(), 'PEER_HANDSHAKE_FAILED')).toBe(true)
    expect(a.socket.sent).toHaveLength(0) // never told a stranger which torrent we serve
    expect(a.peer.state).toBe('closed')

    const b = setup()
    b.socket.feed(new TextEncoder().encode('\x13BitTorrent protocoX'))
    expect(hasCode(b.closedReason(), 'PEER_HANDSHAKE_FAILED')).toBe(true)
  })

  it('times out a handshake that does not complete', () => {
    const { clock, closedReason, socket } = setup({ settings: { handshakeTimeoutMs: 10_000 } })
    socket.feed(remoteHandshake().subarray(0, 60))
    clock.advance(9_000)
    expect(closedReason()).toBeUndefined()
    clock.advance(2_000)
    expect(hasCode(closedReason(), 'PEER_TIMEOUT')).toBe(true)
    expect(clock.pendingTimers).toBe(0)
  })

  it('continues the listener\'s handshake deadline (one deadline from the accept, not two)', () => {
    const clock = new ManualClock()
    clock.advance(8_000)
    const socket = new FakeSocket()
    const init: PeerConnectionInit = { infoHash: INFO_HASH, localPeerId: LOCAL_ID, outgoing: false, pieceCount: 20, handshakeStartedAtMs: 0 }
    const peer = new PeerConnection({ socket, clock }, resolvePeerSettings({ handshakeTimeoutMs: 10_000 }), init)
    socket.feed(remoteHandshake().subarray(0, 60)) // byte-at-a-time peers keep sending, never finishing
    clock.advance(1_500)
    expect(peer.state).toBe('handshaking')
    clock.advance(1_000)
    expect(peer.state).toBe('closed')
  })

  it('negotiates only what both sides announce', () => {
    const { peer, remote } = active({ features: NO_FEATURES })
    expect(peer.features).toEqual({ extensionProtocol: false, fastExtension: false, dht: false, v2: false })
    expect(remote.types()).toEqual([]) // nothing to send: no fast extension, no pieces, no BEP 10
    const off = active({ settings: { enableFastExtension: false, enableExtensionProtocol: false } })
    expect(off.peer.features).toEqual({ extensionProtocol: false, fastExtension: false, dht: false, v2: false })
    const dht = active({ init: { dht: true }, features: { ...ALL_FEATURES, dht: true } })
    expect(dht.peer.features.dht).toBe(true)
  })

  it('BEP 52: sets the v2 bit for a v2 torrent, negotiates it, and takes hash messages only then', () => {
    const v2 = setup({ init: { v2: true } })
    expect(v2.remote.handshake()?.features.v2).toBe(true)
    expect(setup().remote.handshake()?.features.v2).toBe(false)
    const request = { piecesRoot: new Uint8Array(32).fill(9), baseLayer: 2, index: 0, length: 4, proofLayers: 1 }
    const on = active({ init: { v2: true }, features: { ...ALL_FEATURES, v2: true } })
    expect(on.peer.features.v2).toBe(true)
    const got: unknown[] = []
    on.peer.on('hash-message-received', (m) => got.push(m))
    on.socket.feed(encodeHashMessage({ type: 'hash-request', request }))
    expect(got).toEqual([{ type: 'hash-request', request }])
    expect(on.peer.sendHashMessage({ type: 'hash-reject', request })).toBe(true)
    expect(on.remote.messages().at(-1)).toEqual({ type: 'unknown', id: 23, payload: encodeHashReject(request).subarray(5) })
    // A v1 torrent ignores them as unknown ids (BEP 3); a malformed one closes a v2 connection.
    const off = active()
    off.peer.on('hash-message-received', (m) => got.push(m))
    off.socket.feed(encodeHashMessage({ type: 'hash-request', request }))
    expect(got.length).toBe(1)
    expect(off.peer.state).toBe('active')
    on.socket.feed(Uint8Array.from([0, 0, 0, 3, 21, 0, 0]))
    expect(on.peer.state).toBe('closed')
    expect(hasCode(on.closedReason(), 'PEER_PROTOCOL_VIOLATION')).toBe(true)
  })

  it('sends its availability first: bitfield, have all or have none', () => {
    const partial = new Bitfield(20)
    partial.set(3)
    const full = new Bitfield(20)
    full.setAll()
    const a = setup({ init: { localBitfield: () => partial } })
    a.socket.feed(remoteHandshake())
    const sent = a.remote.messages()
    expect(sent[0]).toEqual({ type: 'bitfield', bytes: partial.bytes })
    const b = setup({ init: { localBitfield: () => full } })
    b.socket.feed(remoteHandshake())
    expect(b.remote.types()[0]).toBe('have-all')
    const c = setup({ init: { localBitfield: () => full } })
    c.socket.feed(remoteHandshake(NO_FEATURES))
    expect(c.remote.types()).toEqual(['bitfield'])
  })

  it('sends a well-formed extended handshake', () => {
    const { peer, socket, remote } = setup({ settings: { maxIncomingRequests: 250 }, init: { listenPort: 6881 } })
    socket.feed(remoteHandshake())
    const ext = remote.messages().find((m) => m.type === 'extended')
    expect(ext?.type === 'extended' && ext.id).toBe(0)
    if (ext?.type !== 'extended') return
    const hs = decodeExtendedHandshake(ext.payload)
    expect(hs.v).toBe('Lodestone 0.1.0')
    expect(hs.reqq).toBe(250)
    expect(hs.p).toBe(6881)
    expect([...hs.yourip!]).toEqual([10, 0, 0, 2])
    expect(peer.state).toBe('active')
  })

  it('throws ILLEGAL_TRANSITION when asked to send during the handshake, and ignores sends once closed', () => {
    const { peer } = setup()
    let error: unknown
    try { peer.interested() } catch (e) { error = e }
    expect(hasCode(error, 'ILLEGAL_TRANSITION')).toBe(true)
    peer.close()
    expect(peer.request(0, 0, 16_384)).toBe(false)
    expect(() => { peer.interested() }).not.toThrow()
  })
})

describe('PeerConnection choke and interest', () => {
  it('tracks the peer\'s choke and interest exactly, ignoring repeats', () => {
    const { peer, feed, names } = active()
    feed({ type: 'unchoke' }, { type: 'unchoke' }, { type: 'interested' }, { type: 'interested' }, { type: 'not-interested' }, { type: 'choke' })
    expect(names()).toEqual(['unchoked', 'interested', 'not-interested', 'choked'])
    expect(peer.peerChoking).toBe(true)
    expect(peer.peerInterested).toBe(false)
  })

  it('sends interest and choke changes once', () => {
    const { peer, remote } = active()
    peer.interested()
    peer.interested()
    peer.unchoke()
    peer.unchoke()
    peer.notInterested()
    peer.choke()
    expect(remote.types()).toEqual(['interested', 'unchoke', 'not-interested', 'choke'])
    expect(peer.amChoking).toBe(true)
    expect(peer.amInterested).toBe(false)
  })
})

describe('PeerConnection availability', () => {
  it('tracks bitfield and have, emitting have only for new pieces', () => {
    const { peer, feed, payloads } = active()
    const bits = new Bitfield(20)
    bits.set(0)
    bits.set(19)
    feed({ type: 'bitfield', bytes: bits.bytes }, { type: 'have', piece: 5 }, { type: 'have', piece: 5 }, { type: 'have', piece: 0 })
    expect(payloads('bitfield')[0]?.source).toBe('bitfield')
    expect(payloads('have')).toEqual([{ piece: 5 }])
    expect([...peer.bitfield!.ones()]).toEqual([0, 5, 19])
  })

  it.each([
    ['a bitfield of the wrong size', [{ type: 'bitfield', bytes: new Uint8Array(2) }]],
    ['spare bits set', [{ type: 'bitfield', bytes: Uint8Array.from([0, 0, 0x01]) }]],
    ['a have beyond the piece count', [{ type: 'have', piece: 20 }]],
    ['a later bitfield of the wrong size', [{ type: 'have-none' }, { type: 'bitfield', bytes: new Uint8Array(2) }]]
  ] as Array<[string, WireMessage[]]>)('closes on %s with PEER_PROTOCOL_VIOLATION', (_name, messages) => {
    const { peer, feed, closedReason } = active()
    feed(...messages)
    expect(hasCode(closedReason(), 'PEER_PROTOCOL_VIOLATION')).toBe(true)
    expect(peer.state).toBe('closed')
  })

  it('reads a later bitfield or have-all as haves for the pieces it adds (aria2 sends one for 20+ haves)', () => {
    const { peer, feed, payloads, closedReason } = active()
    const later = new Bitfield(20)
    later.set(3)
    later.set(7)
    feed({ type: 'have-none' }, { type: 'have', piece: 3 }, { type: 'bitfield', bytes: later.bytes }, { type: 'have-none' })
    expect(payloads('bitfield').map((p) => p.source)).toEqual(['have-none'])
    expect(payloads('have')).toEqual([{ piece: 3 }, { piece: 7 }])
    feed({ type: 'have-all' })
    expect(payloads('have')).toHaveLength(20)
    expect(peer.isSeed).toBe(true)
    expect(closedReason()).toBeUndefined()
    expect(peer.state).not.toBe('closed')
  })

  it('closes on fast-extension messages when BEP 6 was not negotiated', () => {
    for (const message of [{ type: 'have-all' }, { type: 'reject', piece: 0, begin: 0, length: 1 }, { type: 'allowed-fast', piece: 1 }, { type: 'suggest', piece: 1 }] as WireMessage[]) {
      const { feed, closedReason } = active({ features: NO_FEATURES })
      feed(message)
      expect(hasCode(closedReason(), 'PEER_PROTOCOL_VIOLATION')).toBe(true)
    }
  })

  it('magnet: keeps what the peer sent until the piece count is known, then validates it', () => {
    const { peer, feed, payloads } = active({ magnet: true })
    feed({ type: 'bitfield', bytes: Uint8Array.from([0x80, 0x00]) }, { type: 'have', piece: 9 })
    expect(peer.bitfield).toBeNull()
    expect(payloads('have')).toEqual([{ piece: 9 }])
    peer.setPieceCount(12)
    expect(peer.pieceCount).toBe(12)
    expect([...peer.bitfield!.ones()]).toEqual([0, 9])
    feed({ type: 'have', piece: 11 })
    expect(peer.bitfield!.get(11)).toBe(true)
  })

  it('magnet: have-all becomes a full bitfield, and a bitfield of the wrong size closes the peer', () => {
    const a = active({ magnet: true })
    a.feed({ type: 'have-all' })
    a.peer.setPieceCount(30)
    expect(a.peer.isSeed).toBe(true)

    const b = active({ magnet: true })
    b.feed({ type: 'bitfield', bytes: new Uint8Array(4) })
    b.peer.setPieceCount(12)
    expect(hasCode(b.closedReason(), 'PEER_PROTOCOL_VIOLATION')).toBe(true)
  })

  it('tracks allowed-fast and suggested pieces (bounded)', () => {
    const { peer, feed, names } = active({ settings: { maxSuggestedPieces: 2, maxAllowedFastPieces: 2 } })
    feed({ type: 'allowed-fast', piece: 1 }, { type: 'allowed-fast', piece: 2 }, { type: 'allowed-fast', piece: 3 }, { type: 'allowed-fast', piece: 99 })
    feed({ type: 'suggest', piece: 4 }, { type: 'suggest', piece: 5 }, { type: 'suggest', piece: 6 })
    expect([...peer.allowedFast]).toEqual([1, 2])
    expect([...peer.suggested]).toEqual([5, 6])
    expect(names().filter((n) => n === 'allowed-fast')).toHaveLength(2)
  })

  it('reports the DHT port', () => {
    const { feed, payloads } = active()
    feed({ type: 'port', port: 6881 })
    expect(payloads('port-received')).toEqual([{ port: 6881 }])
  })
})

describe('PeerConnection requests', () => {
  it('sends requests only when unchoked, matches blocks and counts bytes', () => {
    const { peer, feed, remote, payloads } = active()
    expect(peer.request(0, 0, 16_384)).toBe(false)
    expect(peer.availableRequestSlots()).toBe(0)
    feed({ type: 'unchoke' })
    expect(peer.request(0, 0, 16_384)).toBe(true)
    expect(peer.request(0, 0, 16_384)).toBe(false) // already outstanding
    expect(peer.request(0, 16_384, 16_384)).toBe(true)
    expect(remote.messages()).toEqual([
      { type: 'request', piece: 0, begin: 0, length: 16_384 },
      { type: 'request', piece: 0, begin: 16_384, length: 16_384 }
    ])
    expect(peer.outstandingRequestCount).toBe(2)
    expect(peer.isRequested(0, 16_384)).toBe(true)
    feed({ type: 'piece', piece: 0, begin: 16_384, data: block(16_384) })
    const [received] = payloads('piece-received')
    expect(received?.piece).toBe(0)
    expect(received?.begin).toBe(16_384)
    expect(received?.data).toEqual(block(16_384))
    expect(peer.outstandingRequests()).toEqual([{ piece: 0, begin: 0, length: 16_384 }])
    expect(peer.stats().downloadedBytes).toBe(16_384)
  })

  it('counts unrequested, duplicate and wrong-length blocks as wasted without trusting them', () => {
    const { peer, feed, payloads } = active()
    feed({ type: 'unchoke' })
    peer.request(1, 0, 100)
    feed({ type: 'piece', piece: 1, begin: 0, data: block(50) }) // wrong length
    feed({ type: 'piece', piece: 2, begin: 0, data: block(10) }) // never requested
    feed({ type: 'piece', piece: 1, begin: 0, data: block(100) })
    feed({ type: 'piece', piece: 1, begin: 0, data: block(100) }) // duplicate
    expect(payloads('piece-received')).toHaveLength(1)
    expect(payloads('wasted-received')).toEqual([
      { piece: 1, begin: 0, lengthBytes: 50 }, { piece: 2, begin: 0, lengthBytes: 10 }, { piece: 1, begin: 0, lengthBytes: 100 }
    ])
    expect(peer.stats().wastedBytes).toBe(160)
    expect(peer.stats().downloadedBytes).toBe(100)
  })

  it('without BEP 6, a choke drops every outstanding request and reports them', () => {
    const { peer, feed, payloads, names } = active({ features: NO_FEATURES })
    feed({ type: 'unchoke' })
    peer.request(0, 0, 10)
    peer.request(1, 0, 10)
    feed({ type: 'choke' })
    expect(names()).toEqual(['unchoked', 'choked', 'requests-dropped'])
    expect(payloads('requests-dropped')[0]).toEqual({ blocks: [{ piece: 0, begin: 0, length: 10 }, { piece: 1, begin: 0, length: 10 }], reason: 'choked' })
    expect(peer.outstandingRequestCount).toBe(0)
    feed({ type: 'piece', piece: 0, begin: 0, data: block(10) })
    expect(payloads('wasted-received')).toHaveLength(1)
  })

  it('with BEP 6, a choke keeps requests until the peer rejects them; allowed-fast pieces stay requestable', () => {
    const { peer, feed, payloads } = active()
    feed({ type: 'unchoke' })
    peer.request(0, 0, 10)
    peer.request(1, 0, 10)
    feed({ type: 'choke' })
    expect(payloads('requests-dropped')).toHaveLength(0)
    expect(peer.outstandingRequestCount).toBe(2)
    feed({ type: 'reject', piece: 0, begin: 0, length: 10 }, { type: 'reject', piece: 7, begin: 0, length: 10 })
    expect(payloads('rejected')).toEqual([{ piece: 0, begin: 0, length: 10 }])
    expect(peer.outstandingRequestCount).toBe(1)
    expect(peer.request(2, 0, 10)).toBe(false)
    feed({ type: 'allowed-fast', piece: 2 })
    expect(peer.request(2, 0, 10)).toBe(true)
  })

  it('cancel removes the request and tells the peer', () => {
    const { peer, feed, remote, payloads } = active()
    feed({ type: 'unchoke' })
    peer.request(3, 0, 10)
    remote.messages()
    expect(peer.cancel(3, 0, 10)).toBe(true)
    expect(peer.cancel(3, 0, 10)).toBe(false)
    expect(remote.messages()).toEqual([{ type: 'cancel', piece: 3, begin: 0, length: 10 }])
    feed({ type: 'reject', piece: 3, begin: 0, length: 10 }) // the race a cancel causes: ignored
    expect(payloads('rejected')).toHaveLength(0)
    expect(peer.state).toBe('active')
  })

  it('refuses a request beyond the piece count as a caller bug', () => {
    const { peer, feed } = active()
    feed({ type: 'unchoke' })
    let error: unknown
    try { peer.request(20, 0, 10) } catch (e) { error = e }
    expect(hasCode(error, 'ARGUMENT_INVALID')).toBe(true)
    let second: unknown
    try { peer.request(0, 1.5, 10) } catch (e) { second = e }
    expect(hasCode(second, 'ARGUMENT_INVALID')).toBe(true)
    expect(peer.outstandingRequestCount).toBe(0) // nothing recorded for a refused request
  })

  it('applies updated settings from the next check on', () => {
    const { peer, feed, clock, payloads } = active({ settings: { requestTimeoutMs: 60_000 } })
    feed({ type: 'unchoke' })
    peer.request(0, 0, 10)
    clock.advance(5_000)
    expect(payloads('request-timed-out')).toHaveLength(0)
    peer.updateSettings(resolvePeerSettings({ requestTimeoutMs: 5_000 }))
    clock.advance(1_000)
    expect(payloads('request-timed-out')).toHaveLength(1)
  })

  it('reports timed-out requests once, frees their pipeline slots, and still accepts the late block', () => {
    const { peer, feed, clock, payloads } = active({ settings: { requestTimeoutMs: 5_000, snubTimeoutMs: 60_000 } })
    feed({ type: 'unchoke' })
    peer.request(0, 0, 10)
    clock.advance(2_000)
    peer.request(1, 0, 10)
    clock.advance(3_000)
    expect(payloads('request-timed-out')).toEqual([{ blocks: [{ piece: 0, begin: 0, length: 10 }] }])
    expect(peer.outstandingRequestCount).toBe(1)
    clock.advance(2_000)
    expect(payloads('request-timed-out')[1]).toEqual({ blocks: [{ piece: 1, begin: 0, length: 10 }] })
    clock.advance(10_000)
    expect(payloads('request-timed-out')).toHaveLength(2)
    feed({ type: 'piece', piece: 0, begin: 0, data: block(10) })
    expect(payloads('piece-received')).toHaveLength(1)
    expect(peer.request(1, 0, 10)).toBe(true) // a timed-out block may be requested again
  })

  it('snubs a peer that sends nothing while we wait, and unsnubs it on the next block', () => {
    const { peer, feed, clock, names } = active({ settings: { requestTimeoutMs: 5_000, snubTimeoutMs: 20_000 } })
    feed({ type: 'unchoke' })
    peer.request(0, 0, 10)
    clock.advance(19_000)
    expect(peer.snubbed).toBe(false)
    clock.advance(1_000)
    expect(peer.snubbed).toBe(true)
    expect(peer.desiredPipelineDepth()).toBe(1)
    feed({ type: 'piece', piece: 0, begin: 0, data: block(10) })
    expect(peer.snubbed).toBe(false)
    expect(names().filter((n) => n === 'snubbed' || n === 'unsnubbed')).toEqual(['snubbed', 'unsnubbed'])
  })

  it('grows the pipeline with rate × latency, capped by the peer\'s reqq and the setting', () => {
    const settings = { minPipelineDepth: 4, maxPipelineDepth: 300, requestQueueTimeMs: 1_000, rateWindowMs: 5_000 }
    const { peer, feed, clock } = active({ settings, init: { pieceCount: 1_000 } })
    expect(peer.desiredPipelineDepth()).toBe(4)
    feed({ type: 'unchoke' })
    // 10 blocks every 100 ms, each answered 50 ms after its request: 1.6 MB/s, latency 50 ms.
    let piece = 0
    for (let round = 0; round < 50; round++) {
      const start = piece
      for (let i = 0; i < 10; i++) peer.request(piece++, 0, 16_384)
      clock.advance(50)
      for (let p = start; p < piece; p++) feed({ type: 'piece', piece: p, begin: 0, data: block(16_384) })
      clock.advance(50)
    }
    const rate = peer.downloadRateBytesPerSec
    expect(rate).toBeGreaterThan(1_400_000)
    expect(rate).toBeLessThan(1_800_000)
    expect(peer.latencyMs).toBe(50)
    const expected = Math.ceil(rate * (50 + 1_000) / 1000 / 16_384)
    expect(peer.desiredPipelineDepth()).toBe(expected)
    expect(peer.availableRequestSlots()).toBe(expected)
    // the peer says it queues at most 20 requests
    feed({ type: 'extended', id: 0, payload: encodeExtendedHandshake({ m: new Map(), reqq: 20 }) })
    expect(peer.desiredPipelineDepth()).toBe(20)
  }, 20_000)
})

describe('PeerConnection serving requests', () => {
  function serving (options: SetupOptions = {}) {
    const reads: Array<{ piece: number, begin: number, length: number, resolve: (b: Uint8Array) => void, reject: (e: unknown) => void }> = []
    const s = active({
      ...options,
      init: {
        ...options.init,
        readBlock: async (r) => new Promise<Uint8Array>((resolve, reject) => { reads.push({ ...r, resolve, reject }) })
      }
    })
    return { ...s, reads }
  }

  it('rejects (BEP 6) requests while we choke the peer', () => {
    const { feed, remote, reads, peer } = serving()
    feed({ type: 'request', piece: 1, begin: 0, length: 16_384 })
    expect(remote.messages()).toEqual([{ type: 'reject', piece: 1, begin: 0, length: 16_384 }])
    expect(reads).toHaveLength(0)
    expect(peer.stats().refusedRequests).toBe(1)
  })

  it('drops them silently without BEP 6', () => {
    const { feed, remote, reads } = serving({ features: NO_FEATURES })
    feed({ type: 'request', piece: 1, begin: 0, length: 16_384 })
    expect(remote.messages()).toEqual([])
    expect(reads).toHaveLength(0)
  })

  it('serves requests in order through readBlock, sending header and block without copying the block', async () => {
    const { peer, feed, reads, socket, remote, payloads } = serving()
    peer.unchoke()
    remote.messages()
    feed({ type: 'request', piece: 1, begin: 0, length: 4 }, { type: 'request', piece: 2, begin: 0, length: 4 })
    expect(payloads('request-received')).toEqual([{ piece: 1, begin: 0, length: 4 }, { piece: 2, begin: 0, length: 4 }])
    expect(reads.map((r) => r.piece)).toEqual([1, 2])
    const second = Uint8Array.from([2, 2, 2, 2])
    const first = Uint8Array.from([1, 1, 1, 1])
    reads[1]!.resolve(second)
    await flush()
    expect(remote.messages()).toEqual([]) // waits for the first, to keep request order
    reads[0]!.resolve(first)
    await flush()
    expect(remote.messages()).toEqual([
      { type: 'piece', piece: 1, begin: 0, data: first },
      { type: 'piece', piece: 2, begin: 0, data: second }
    ])
    expect(socket.sent).toContain(first) // the very buffer, not a copy
    expect(socket.sent).toContain(second)
    expect(peer.stats().uploadedBytes).toBe(8)
  })

  it('releases a block that is a view of a larger buffer once the socket has handed it on, and at once when dropped unsent', async () => {
    const released: Uint8Array[] = []
    const { peer, feed, reads, socket, remote } = serving({ init: { releaseBlock: (data) => { released.push(data) } } })
    peer.unchoke()
    remote.messages()
    const pieceBuffer = new Uint8Array(64)
    const first = pieceBuffer.subarray(0, 4)
    feed({ type: 'request', piece: 1, begin: 0, length: 4 })
    reads[0]!.resolve(first)
    await flush()
    expect(socket.sent).toContain(first)
    expect(released).toEqual([]) // still in the socket's queue
    socket.drain()
    // The next block sent finds the socket empty: the first one is released, the new one is not.
    const second = pieceBuffer.subarray(4, 8)
    feed({ type: 'request', piece: 1, begin: 4, length: 4 })
    reads[1]!.resolve(second)
    await flush()
    expect(released).toEqual([first])
    // Read for a request cancelled meanwhile: never sent, released at once.
    const third = pieceBuffer.subarray(8, 12)
    feed({ type: 'request', piece: 1, begin: 8, length: 4 })
    feed({ type: 'cancel', piece: 1, begin: 8, length: 4 })
    reads[2]!.resolve(third)
    await flush()
    expect(released).toEqual([first, third])
    expect(socket.sent).not.toContain(third)
  })

  it('answers a cancel with a reject and drops the block read for it', async () => {
    const { peer, feed, reads, remote } = serving()
    peer.unchoke()
    remote.messages()
    feed({ type: 'request', piece: 1, begin: 0, length: 4 })
    feed({ type: 'cancel', piece: 1, begin: 0, length: 4 })
    expect(remote.messages()).toEqual([{ type: 'reject', piece: 1, begin: 0, length: 4 }])
    reads[0]!.resolve(block(4))
    await flush()
    expect(remote.messages()).toEqual([])
    expect(peer.stats().uploadQueueBytes).toBe(0)
  })

  it('never reads a request cancelled in the same chunk it arrived in', async () => {
    const { peer, feed, reads, remote } = serving()
    peer.unchoke()
    remote.messages()
    feed({ type: 'request', piece: 1, begin: 0, length: 4 }, { type: 'cancel', piece: 1, begin: 0, length: 4 }, { type: 'request', piece: 1, begin: 4, length: 4 })
    expect(reads.map((r) => [r.piece, r.begin, r.length])).toEqual([[1, 4, 4]])
    expect(remote.messages()).toEqual([{ type: 'reject', piece: 1, begin: 0, length: 4 }])
  })

  it('reads requests for back-to-back bytes of a piece as one run and sends each block as a view of it', async () => {
    const released: Uint8Array[] = []
    const { peer, feed, reads, socket, remote } = serving({ init: { releaseBlock: (data) => { released.push(data) } }, settings: { maxRequestLengthBytes: 12 } })
    peer.unchoke()
    remote.messages()
    feed(
      { type: 'request', piece: 3, begin: 0, length: 4 }, { type: 'request', piece: 3, begin: 4, length: 4 },
      { type: 'request', piece: 3, begin: 8, length: 4 }, { type: 'request', piece: 3, begin: 12, length: 4 }, // beyond 12 bytes: a new run
      { type: 'request', piece: 4, begin: 16, length: 4 }, // another piece
      { type: 'request', piece: 4, begin: 24, length: 4 } // not adjacent
    )
    expect(reads.map((r) => [r.piece, r.begin, r.length])).toEqual([[3, 0, 12], [3, 12, 4], [4, 16, 4], [4, 24, 4]])
    const run = Uint8Array.from([1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3])
    reads[0]!.resolve(run)
    for (const r of reads.slice(1)) r.resolve(block(4, r.begin))
    await flush()
    const pieces = remote.messages()
    expect(pieces.map((m) => m.type === 'piece' ? [m.piece, m.begin, [...m.data]] : m.type)).toEqual([
      [3, 0, [1, 1, 1, 1]], [3, 4, [2, 2, 2, 2]], [3, 8, [3, 3, 3, 3]], [3, 12, [12, 12, 12, 12]], [4, 16, [16, 16, 16, 16]], [4, 24, [24, 24, 24, 24]]
    ])
    // Views, not copies; the run is released once, when all three of its blocks have left the socket.
    expect(socket.sent.filter((b) => b.buffer === run.buffer)).toHaveLength(3)
    expect(released).not.toContain(run)
    socket.drain()
    feed({ type: 'request', piece: 5, begin: 0, length: 4 })
    reads[4]!.resolve(block(4))
    await flush()
    expect(released.filter((b) => b === run)).toHaveLength(1)
    expect(peer.stats().uploadedBytes).toBe(28)
  })

  it('choking the peer rejects its queued requests except allowed-fast ones', async () => {
    const { peer, feed, reads, remote } = serving()
    peer.unchoke()
    peer.allowFast(2)
    remote.messages()
    feed({ type: 'request', piece: 1, begin: 0, length: 4 }, { type: 'request', piece: 2, begin: 0, length: 4 })
    peer.choke()
    expect(remote.messages()).toEqual([{ type: 'choke' }, { type: 'reject', piece: 1, begin: 0, length: 4 }])
    for (const r of reads) r.resolve(block(4))
    await flush()
    expect(remote.types()).toEqual(['piece'])
    feed({ type: 'request', piece: 2, begin: 4, length: 4 }) // allowed-fast while choked: served
    expect(reads).toHaveLength(3)
  })

  it('bounds the queue by count and bytes and refuses invalid requests', () => {
    const { peer, feed, remote } = serving({ settings: { maxIncomingRequests: 2, maxIncomingRequestBytes: 1_000_000, maxRequestLengthBytes: 16_384, maxUploadReadAheadBytes: 16_384 } })
    peer.unchoke()
    remote.messages()
    feed(
      { type: 'request', piece: 0, begin: 0, length: 16_384 },
      { type: 'request', piece: 0, begin: 16_384, length: 16_384 },
      { type: 'request', piece: 0, begin: 32_768, length: 16_384 }, // queue full
      { type: 'request', piece: 1, begin: 0, length: 16_385 }, // too long
      { type: 'request', piece: 99, begin: 0, length: 10 } // no such piece
    )
    expect(remote.messages()).toEqual([
      { type: 'reject', piece: 0, begin: 32_768, length: 16_384 },
      { type: 'reject', piece: 1, begin: 0, length: 16_385 },
      { type: 'reject', piece: 99, begin: 0, length: 10 }
    ])
    expect(peer.stats().uploadQueueBytes).toBe(32_768)
    expect(peer.stats().refusedRequests).toBe(3)
  })

  it('rejects a request whose read fails and reports a warning', async () => {
    const { peer, feed, reads, remote, payloads } = serving()
    peer.unchoke()
    remote.messages()
    feed({ type: 'request', piece: 1, begin: 0, length: 4 })
    reads[0]!.reject(new Error('disk gone'))
    await flush()
    expect(remote.messages()).toEqual([{ type: 'reject', piece: 1, begin: 0, length: 4 }])
    expect(payloads('warning')).toHaveLength(1)
    expect(peer.state).toBe('active')
  })

  it('closes the connection when readBlock calls the request a protocol violation', async () => {
    const { peer, feed, reads, closedReason } = serving()
    peer.unchoke()
    feed({ type: 'request', piece: 1, begin: 0, length: 4 })
    reads[0]!.reject(new ProtocolError('PEER_PROTOCOL_VIOLATION', { reason: 'piece we do not have' }))
    await flush()
    expect(hasCode(closedReason(), 'PEER_PROTOCOL_VIOLATION')).toBe(true)
  })

  it('keeps reading while blocks alone fill the socket up to its high-water mark', async () => {
    const { peer, feed, reads, socket } = serving({ settings: { maxSendQueueBytes: 100 } })
    peer.unchoke()
    socket.bufferedBytes = 0
    socket.highWaterMarkBytes = 30
    for (let i = 0; i < 4; i++) feed({ type: 'request', piece: i, begin: 0, length: 4 })
    for (const r of reads) r.resolve(block(4))
    await flush()
    expect(peer.isWritable).toBe(false)
    expect(socket.paused).toBe(false)
  })

  it('stops reading and sending while the socket is above its high-water mark', async () => {
    const { peer, feed, reads, socket, remote, names } = serving({ settings: { maxUploadReadAheadBytes: 8 } })
    peer.unchoke()
    remote.messages()
    socket.bufferedBytes = 0 // the handshake and earlier messages have left
    socket.highWaterMarkBytes = 30
    for (let i = 0; i < 6; i++) feed({ type: 'request', piece: i, begin: 0, length: 4 })
    expect(reads).toHaveLength(2) // read-ahead bound: 8 bytes
    reads[0]!.resolve(block(4))
    reads[1]!.resolve(block(4))
    await flush()
    // 17 bytes per piece message: the second crossed the mark. Sending the first freed read-ahead for one more read.
    expect(remote.types()).toEqual(['piece', 'piece'])
    expect(peer.isWritable).toBe(false)
    expect(reads).toHaveLength(3)
    reads[2]!.resolve(block(4))
    await flush()
    expect(remote.types()).toEqual([]) // ready, but held until the socket drains
    expect(reads).toHaveLength(3) // and no further reads meanwhile
    socket.drain()
    expect(peer.isWritable).toBe(true)
    expect(remote.types()).toEqual(['piece'])
    expect(reads).toHaveLength(5)
    expect(names()).toContain('drained')
  })
})

describe('PeerConnection send-queue backpressure', () => {
  it('stops reading from a peer whose replies pile up (REJECT flood), resumes on drain, closes it when it stays stuck', () => {
    const { peer, feed, socket, remote, clock, closedReason } = active({ settings: { maxSendQueueBytes: 100, sendStallTimeoutMs: 30_000 } })
    socket.bufferedBytes = 0
    socket.highWaterMarkBytes = 50
    // Choked and not allowed-fast: every request is answered with a REJECT (17 bytes).
    for (let i = 0; i < 6; i++) feed({ type: 'request', piece: 1, begin: i * 16_384, length: 16_384 })
    expect(remote.types()).toEqual(Array(6).fill('reject'))
    expect(socket.paused).toBe(true) // 102 bytes queued > 100
    expect(peer.stats().sendQueuePauses).toBe(1)
    peer.resumeReading() // the owner's resume does not override the send queue's pause
    expect(socket.paused).toBe(true)
    socket.drain()
    expect(socket.paused).toBe(false)
    for (let i = 0; i < 7; i++) feed({ type: 'request', piece: 2, begin: i * 16_384, length: 16_384 })
    expect(socket.paused).toBe(true)
    clock.advance(29_000)
    expect(closedReason()).toBeUndefined()
    clock.advance(2_000)
    expect(closedReason()).toMatchObject({ code: 'PEER_TIMEOUT', details: { what: 'send' } })
  })

})

describe('PeerConnection timers and closing', () => {
  it('sends a keep-alive after keepAliveIntervalMs of silence and closes after idleTimeoutMs without input', () => {
    const { socket, clock, closedReason, remote } = active({ settings: { keepAliveIntervalMs: 10_000, idleTimeoutMs: 25_000 } })
    clock.advance(10_000)
    expect(remote.types()).toEqual(['keep-alive'])
    socket.feed(encodeMessage({ type: 'keep-alive' }))
    clock.advance(20_000)
    expect(closedReason()).toBeUndefined()
    expect(remote.types()).toEqual(['keep-alive', 'keep-alive'])
    clock.advance(5_000)
    expect(hasCode(closedReason(), 'PEER_TIMEOUT')).toBe(true)
    expect(clock.pendingTimers).toBe(0)
  })

  it('closes with PEER_MESSAGE_TOO_LARGE on an oversized length prefix', () => {
    const { socket, closedReason, peer } = active({ settings: { maxMessageLengthBytes: 20_000 } })
    socket.feed(Uint8Array.from([0, 0, 0x4e, 0x21]))
    expect(hasCode(closedReason(), 'PEER_MESSAGE_TOO_LARGE')).toBe(true)
    expect(peer.state).toBe('closed')
    expect(socket.closed).toBe(true)
  })

  it('close() is idempotent, reports outstanding requests, releases timers and emits closed once', () => {
    const { peer, feed, clock, socket, names, payloads } = active()
    feed({ type: 'unchoke' })
    peer.request(0, 0, 10)
    const reason = new ProtocolError('PEER_BANNED', { address: 'x', reason: 'test' })
    peer.close(reason)
    peer.close()
    expect(names()).toEqual(['unchoked', 'requests-dropped', 'closed'])
    expect(payloads('requests-dropped')[0]).toEqual({ blocks: [{ piece: 0, begin: 0, length: 10 }], reason: 'closed' })
    expect(payloads('closed')[0]).toEqual({ reason })
    expect(clock.pendingTimers).toBe(0)
    expect(socket.closed).toBe(true)
    socket.feed(encodeMessage({ type: 'choke' })) // ignored
    expect(names()).toHaveLength(3)
  })

  it('reports a remote hang-up as PEER_CLOSED and a transport error as given', async () => {
    const a = active()
    a.socket.remoteClosed()
    expect(hasCode(a.closedReason(), 'PEER_CLOSED')).toBe(true)
    const b = active()
    const error = new ProtocolError('PEER_CONNECT_FAILED', { address: 'x', reason: 'reset' })
    b.socket.remoteClosed(error)
    expect(b.closedReason()).toBe(error)
    await flush()
  })

  it('a throwing listener becomes a warning and does not break the connection', () => {
    const { peer, feed, payloads } = active()
    peer.on('unchoked', () => { throw new Error('listener bug') })
    feed({ type: 'unchoke' }, { type: 'have', piece: 1 })
    expect(payloads('warning')).toHaveLength(1)
    expect(payloads('have')).toEqual([{ piece: 1 }])
    expect(peer.state).toBe('active')
  })

  it('a listener may close the connection mid-chunk: the rest of the chunk is ignored', () => {
    const { peer, feed, names } = active()
    peer.on('unchoked', () => { peer.close() })
    feed({ type: 'unchoke' }, { type: 'have', piece: 1 })
    expect(names()).toEqual(['unchoked', 'closed'])
  })
})

describe('PeerConnection extensions', () => {
  function pex (log: string[]): (ctx: Parameters<NonNullable<PeerConnectionInit['extensions']>[number]>[0]) => PeerExtension {
    return (ctx) => ({
      name: 'ut_pex',
      localId: 1,
      handshakeFields: () => new Map([['x_test', 1]]),
      onHandshake: (hs, remoteId) => {
        log.push(`handshake ${remoteId ?? 'none'} ${hs.v ?? ''}`)
        log.push(`send ${ctx.send(Uint8Array.from([0x64, 0x65]))} ${ctx.remoteId ?? 'none'}`)
      },
      onMessage: (payload) => {
        log.push(`message ${payload.length}`)
        if (payload.length > 3) throw new ProtocolError('PEER_PROTOCOL_VIOLATION', { reason: 'pex too long' })
      },
      onClose: () => { log.push('close') }
    })
  }

  it('announces extensions in m with their fields, routes messages by our id and sends under the peer\'s', () => {
    const log: string[] = []
    const { socket, feed, remote, names, peer } = setup({ init: { extensions: [pex(log)] } })
    socket.feed(remoteHandshake())
    const ours = remote.messages().find((m) => m.type === 'extended')
    if (ours?.type !== 'extended') throw new Error('no extended handshake')
    const hs = decodeExtendedHandshake(ours.payload)
    expect([...hs.m]).toEqual([['ut_pex', 1]])
    expect(hs.dict.get('x_test')).toBe(1)
    feed({ type: 'extended', id: 0, payload: encodeExtendedHandshake({ m: new Map([['ut_pex', 7]]), v: 'Peer 1.0' }) })
    expect(names()).toContain('extended-handshake')
    expect(peer.extendedHandshake?.v).toBe('Peer 1.0')
    expect(log).toEqual(['handshake 7 Peer 1.0', 'send true 7'])
    expect(remote.messages()).toEqual([{ type: 'extended', id: 7, payload: Uint8Array.from([0x64, 0x65]) }])
    feed({ type: 'extended', id: 1, payload: block(2) }, { type: 'extended', id: 42, payload: block(2) })
    expect(log.at(-1)).toBe('message 2')
    expect(peer.sendExtended('ut_metadata', block(1))).toBe(false)
  })

  it('an extension\'s ProtocolError closes the connection with it as the reason', () => {
    const log: string[] = []
    const { socket, feed, closedReason } = setup({ init: { extensions: [pex(log)] } })
    socket.feed(remoteHandshake())
    feed({ type: 'extended', id: 1, payload: block(5) })
    expect(hasCode(closedReason(), 'PEER_PROTOCOL_VIOLATION')).toBe(true)
    expect(log).toEqual(['message 5', 'close'])
  })

  it('closes on an extended message when BEP 10 was not negotiated, and on a broken extended handshake', () => {
    const a = active({ features: NO_FEATURES })
    a.feed({ type: 'extended', id: 0, payload: encodeExtendedHandshake({ m: new Map() }) })
    expect(hasCode(a.closedReason(), 'PEER_PROTOCOL_VIOLATION')).toBe(true)
    const b = active()
    b.feed({ type: 'extended', id: 0, payload: new TextEncoder().encode('not bencode') })
    expect(hasCode(b.closedReason(), 'PEER_PROTOCOL_VIOLATION')).toBe(true)
  })

  it('refuses extensions with clashing ids at construction', () => {
    const make = (name: string): NonNullable<PeerConnectionInit['extensions']>[number] => () => ({ name, localId: 3, onMessage: () => {} })
    let error: unknown
    try { setup({ init: { extensions: [make('a'), make('b')] } }) } catch (e) { error = e }
    expect(hasCode(error, 'SETTINGS_INVALID')).toBe(true)
  })
})

describe('ipToBytes', () => {
  it('parses IPv4, IPv6 and mapped addresses, and refuses names', () => {
    expect([...ipToBytes('192.168.1.20')!]).toEqual([192, 168, 1, 20])
    expect([...ipToBytes('::ffff:10.0.0.1')!]).toEqual([10, 0, 0, 1])
    expect([...ipToBytes('::1')!]).toEqual([...new Array(15).fill(0), 1])
    expect([...ipToBytes('[2001:db8::ff00:42:8329]')!]).toEqual([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0xff, 0, 0, 0x42, 0x83, 0x29])
    expect(ipToBytes('example.org')).toBeNull()
    expect(ipToBytes('300.1.1.1')).toBeNull()
    expect(ipToBytes('1::2::3')).toBeNull()
  })
})
