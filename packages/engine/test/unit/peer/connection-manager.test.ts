import { describe, expect, it } from 'vitest'
import { ConnectionManager, type ConnectionOwner, type ConnectionSlot } from '../../../src/peer/connection-manager.js'
import { defaultConnectionSettings } from '../../../src/peer/connection-settings.js'
import { formatPeerAddress, parsePeerAddress, type PeerAddress } from '../../../src/peer/peer-address.js'
import { LodestoneError, hasCode } from '../../../src/errors.js'
import type { IClock, ITcpSocket, ISocketFactory } from '../../../src/interfaces/index.js'

interface PendingDial { host: string, port: number, resolve: (s: ITcpSocket) => void, reject: (e: unknown) => void, signal: AbortSignal | undefined }

function fakeSocket (host: string, port: number): ITcpSocket & { closed: boolean } {
  return {
    remoteAddress: host, remotePort: port, localPort: 1, bufferedBytes: 0, closed: false,
    send: () => true, pause () {}, resume () {}, onData () {}, onDrain () {}, onClose () {},
    close () { this.closed = true }
  }
}

function setup (overrides: Partial<typeof defaultConnectionSettings> = {}) {
  const dials: PendingDial[] = []
  let nowMs = 0
  const clock: IClock = {
    now: () => nowMs, wallNow: () => nowMs,
    setTimeout: () => ({ cancel () {} }), setInterval: () => ({ cancel () {} })
  }
  const socketFactory: ISocketFactory = {
    connectTcp: async (host, port, options) => new Promise((resolve, reject) => {
      dials.push({ host, port, resolve, reject, signal: options?.signal })
    }),
    listenTcp: async () => { throw new Error('unused') },
    bindUdp: async () => { throw new Error('unused') }
  }
  const ourId = new Uint8Array(20).fill(7)
  const cm = new ConnectionManager({ socketFactory, clock, peerId: ourId }, { ...defaultConnectionSettings, ...overrides })
  const flush = async (): Promise<void> => { for (let i = 0; i < 5; i++) await Promise.resolve() }
  return { cm, dials, ourId, flush, advance: (ms: number) => { nowMs += ms } }
}

function owner (wants = true) {
  const outgoing: Array<{ socket: ITcpSocket, slot: ConnectionSlot }> = []
  const failed: PeerAddress[] = []
  const o: ConnectionOwner & { wants: boolean } = {
    wants,
    wantsConnections () { return this.wants },
    onOutgoing: (socket, slot) => { outgoing.push({ socket, slot }) },
    onConnectFailed: (address) => { failed.push(address) }
  }
  return { o, outgoing, failed }
}

const addr = (port: number, host = '10.0.0.1'): PeerAddress => ({ host, port })

describe('peer addresses', () => {
  it('parses v4, v6 and objects and refuses junk with ADDRESS_INVALID', () => {
    expect(parsePeerAddress('127.0.0.1:6881')).toEqual({ host: '127.0.0.1', port: 6881 })
    expect(parsePeerAddress('[::1]:51413')).toEqual({ host: '::1', port: 51413 })
    expect(formatPeerAddress({ host: '::1', port: 1 })).toBe('[::1]:1')
    for (const bad of ['127.0.0.1', '127.0.0.1:0', '127.0.0.1:70000', ':80', '::1:80', 'a b:1', '[::1]80']) {
      let err: unknown
      try { parsePeerAddress(bad) } catch (e) { err = e }
      expect(hasCode(err, 'ADDRESS_INVALID'), bad).toBe(true)
    }
  })
})

describe('ConnectionManager', () => {
  it('dials at most maxHalfOpen at once and hands sockets to the owner', async () => {
    const { cm, dials, flush } = setup({ maxHalfOpen: 2 })
    const { o, outgoing } = owner()
    cm.addTorrent('t1', o)
    for (let p = 1; p <= 5; p++) expect(cm.addCandidate('t1', addr(p))).toBe(true)
    await flush()
    expect(dials.length).toBe(2)
    expect(cm.stats().halfOpen).toBe(2)
    dials[0]!.resolve(fakeSocket('10.0.0.1', 1))
    await flush()
    expect(outgoing.length).toBe(1)
    expect(dials.length).toBe(3)
    expect(cm.stats()).toMatchObject({ halfOpen: 2, connections: 3, queuedCandidates: 2 })
  })

  it('refuses duplicate, banned and queued addresses', async () => {
    const { cm, flush } = setup()
    const { o } = owner()
    cm.addTorrent('t1', o)
    expect(cm.addCandidate('t1', addr(1))).toBe(true)
    expect(cm.addCandidate('t1', addr(1))).toBe(false)
    await flush()
    expect(cm.addCandidate('t1', addr(1))).toBe(false) // dialling now
    cm.ban('10.0.0.9', 'test')
    expect(cm.addCandidate('t1', addr(5, '10.0.0.9'))).toBe(false)
    expect(cm.addCandidate('nope', addr(2))).toBe(false)
    expect(cm.acceptIncoming(addr(3, '10.0.0.9'))).toBe('banned')
  })

  it('enforces the per-torrent and the global limit', async () => {
    const { cm, dials, flush } = setup({ maxConnections: 3, maxConnectionsPerTorrent: 2, maxHalfOpen: 10 })
    const a = owner(); const b = owner()
    cm.addTorrent('a', a.o); cm.addTorrent('b', b.o)
    for (let p = 1; p <= 4; p++) { cm.addCandidate('a', addr(p)); cm.addCandidate('b', addr(p)) }
    await flush()
    expect(dials.length).toBe(3)
    expect(cm.connectionCount('a')).toBe(2)
    expect(cm.connectionCount('b')).toBe(1)
    expect(cm.acceptIncoming(addr(99))).toBe('global-limit')
  })

  it('lets a torrent override the per-torrent limit', async () => {
    const { cm, dials, flush } = setup({ maxConnectionsPerTorrent: 10 })
    const { o } = owner()
    cm.addTorrent('t', { ...o, maxConnections: () => 2 })
    for (let p = 1; p <= 5; p++) cm.addCandidate('t', addr(p))
    await flush()
    expect(dials.length).toBe(2)
  })

  it('a full torrent admits an incoming peer only when its owner makes room (BEP 40)', () => {
    const { cm } = setup({ maxConnectionsPerTorrent: 1 })
    const { o } = owner()
    const asked: PeerAddress[] = []
    let room = false
    cm.addTorrent('t', { ...o, makeRoomFor: (address) => { asked.push(address); return room } })
    const t1 = cm.acceptIncoming(addr(1))
    if (typeof t1 === 'string') throw new Error(t1)
    const first = t1.claim('t')
    if (typeof first === 'string') throw new Error(first)
    expect(asked).toEqual([])
    const t2 = cm.acceptIncoming(addr(2))
    if (typeof t2 === 'string') throw new Error(t2)
    expect(t2.claim('t')).toBe('torrent-limit')
    expect(asked).toEqual([addr(2)])
    room = true
    const t3 = cm.acceptIncoming(addr(3))
    if (typeof t3 === 'string') throw new Error(t3)
    const third = t3.claim('t')
    expect(typeof third).not.toBe('string')
    expect(asked).toEqual([addr(2), addr(3)])
  })

  it('routes an incoming ticket to a torrent and respects its limit', () => {
    const { cm } = setup({ maxConnectionsPerTorrent: 1 })
    const { o } = owner()
    cm.addTorrent('t', o)
    const t1 = cm.acceptIncoming(addr(1))
    if (typeof t1 === 'string') throw new Error(t1)
    expect(cm.stats().pendingIncoming).toBe(1)
    const slot = t1.claim('t')
    if (typeof slot === 'string') throw new Error(slot)
    expect(cm.stats()).toMatchObject({ pendingIncoming: 0, connections: 1 })
    const t2 = cm.acceptIncoming(addr(2))
    if (typeof t2 === 'string') throw new Error(t2)
    expect(t2.claim('t')).toBe('torrent-limit')
    const t3 = cm.acceptIncoming(addr(3))
    if (typeof t3 === 'string') throw new Error(t3)
    expect(t3.claim('other')).toBe('unknown-torrent')
    slot.release(); slot.release()
    expect(cm.stats()).toMatchObject({ pendingIncoming: 0, connections: 0 })
  })

  it('detects self connections and never dials that address again', async () => {
    const { cm, dials, ourId, flush } = setup()
    const { o, outgoing } = owner()
    cm.addTorrent('t', o)
    cm.addCandidate('t', addr(6881, '127.0.0.1'))
    await flush()
    dials[0]!.resolve(fakeSocket('127.0.0.1', 6881))
    await flush()
    const { slot } = outgoing[0]!
    expect(slot.identify(ourId)).toBe('self')
    slot.release()
    expect(cm.addCandidate('t', addr(6881, '127.0.0.1'))).toBe(false)
    expect(cm.stats().selfConnections).toBe(1)
  })

  it('detects a second connection to the same peer id', () => {
    const { cm } = setup()
    const { o } = owner()
    cm.addTorrent('t', o)
    const id = new Uint8Array(20).fill(1)
    const claim = (port: number): ConnectionSlot => {
      const ticket = cm.acceptIncoming(addr(port))
      if (typeof ticket === 'string') throw new Error(ticket)
      const slot = ticket.claim('t')
      if (typeof slot === 'string') throw new Error(slot)
      return slot
    }
    const s1 = claim(1); const s2 = claim(2)
    expect(s1.identify(id)).toBe('ok')
    expect(s2.identify(id)).toBe('duplicate')
    s1.release()
    expect(s2.identify(id)).toBe('ok')
    expect(s2.peerIdHex).toBe('01'.repeat(20))
  })

  it('an incoming peer known by its listen address (knownAs) is not dialled there until its connection ends', async () => {
    const { cm, dials, flush } = setup()
    const { o } = owner()
    cm.addTorrent('t', o)
    const ticket = cm.acceptIncoming(addr(50_000))
    if (typeof ticket === 'string') throw new Error(ticket)
    const slot = ticket.claim('t')
    if (typeof slot === 'string') throw new Error(slot)
    expect(cm.addCandidate('t', addr(6881))).toBe(true) // queued before we knew
    slot.knownAs(addr(6881)) // its extended handshake names listen port 6881
    expect(cm.queuedCount('t')).toBe(0) // the queued candidate went with it
    expect(cm.addCandidate('t', addr(6881))).toBe(false) // PEX naming it again
    await flush()
    expect(dials).toEqual([])
    slot.release()
    expect(cm.addCandidate('t', addr(6881))).toBe(true)
  })

  it('an address we dialled that turned out to be a connected peer is not dialled again while that connection lives', async () => {
    const { cm, dials, flush } = setup()
    const { o, outgoing } = owner()
    cm.addTorrent('t', o)
    const id = new Uint8Array(20).fill(1)
    const ticket = cm.acceptIncoming(addr(50_000))
    if (typeof ticket === 'string') throw new Error(ticket)
    const incoming = ticket.claim('t')
    if (typeof incoming === 'string') throw new Error(incoming)
    expect(incoming.identify(id)).toBe('ok')
    // Learned as 10.0.0.1:6881 (no listen port in its handshake) and dialled: the same peer.
    expect(cm.addCandidate('t', addr(6881))).toBe(true)
    await flush()
    dials[0]!.resolve(fakeSocket('10.0.0.1', 6881))
    await flush()
    const dialled = outgoing[0]!.slot
    // Both directions: the tie-break keeps the incoming one here (we dial with the higher id).
    expect(dialled.identify(id)).toBe('duplicate')
    dialled.release()
    expect(cm.addCandidate('t', addr(6881))).toBe(false)
    incoming.release()
    expect(cm.addCandidate('t', addr(6881))).toBe(true)
  })

  it('on a simultaneous open both sides keep the connection dialled by the lower peer id', async () => {
    for (const theirByte of [1, 9]) { // our id is all 7s: they are lower, then higher
      const { cm, dials, flush } = setup()
      const { o, outgoing } = owner()
      cm.addTorrent('t', o)
      const theirId = new Uint8Array(20).fill(theirByte)
      cm.addCandidate('t', addr(1))
      await flush()
      dials[0]!.resolve(fakeSocket('10.0.0.1', 1))
      await flush()
      const out = outgoing[0]!.slot
      const ticket = cm.acceptIncoming(addr(5555))
      if (typeof ticket === 'string') throw new Error(ticket)
      const incoming = ticket.claim('t')
      if (typeof incoming === 'string') throw new Error(incoming)
      let outReplaced = 0
      let inReplaced = 0
      out.onReplaced(() => { outReplaced++ })
      incoming.onReplaced(() => { inReplaced++ })
      expect(out.identify(theirId)).toBe('ok')
      const verdict = incoming.identify(theirId)
      if (theirByte < 7) {
        // They have the lower id: keep the connection they dialled (our incoming one).
        expect(verdict).toBe('ok')
        expect(outReplaced).toBe(1)
      } else {
        expect(verdict).toBe('duplicate')
        expect(outReplaced).toBe(0)
      }
      expect(inReplaced).toBe(0)
    }
  })

  it('backs off after a failed dial and gives up after maxConnectAttempts', async () => {
    const { cm, dials, flush, advance } = setup({ retryBackoffMs: 1000, maxConnectAttempts: 2 })
    const { o, failed } = owner()
    cm.addTorrent('t', o)
    cm.addCandidate('t', addr(1))
    await flush()
    dials[0]!.reject(new LodestoneError('PEER_CONNECT_FAILED', { address: 'x', reason: 'refused' }))
    await flush()
    expect(failed.length).toBe(1)
    expect(cm.queuedCount('t')).toBe(1)
    cm.pump()
    expect(dials.length).toBe(1) // backing off
    advance(1000)
    cm.pump()
    expect(dials.length).toBe(2)
    dials[1]!.reject(new Error('boom'))
    await flush()
    expect(cm.queuedCount('t')).toBe(0)
    expect(cm.addCandidate('t', addr(1))).toBe(false)
    expect(cm.stats().connections).toBe(0)
  })

  it('closes a socket that arrives after its torrent left, and aborts dials on close', async () => {
    const { cm, dials, flush } = setup()
    const { o, outgoing } = owner()
    cm.addTorrent('t', o)
    cm.addCandidate('t', addr(1)); cm.addCandidate('t', addr(2))
    await flush()
    cm.removeTorrent('t')
    const s = fakeSocket('10.0.0.1', 1)
    dials[0]!.resolve(s)
    await flush()
    expect(s.closed).toBe(true)
    expect(outgoing.length).toBe(0)
    cm.close()
    expect(dials[1]!.signal?.aborted).toBe(true)
  })

  it('does not dial for an owner that wants no connections', async () => {
    const { cm, dials, flush } = setup()
    const { o } = owner(false)
    cm.addTorrent('t', o)
    cm.addCandidate('t', addr(1))
    await flush()
    expect(dials.length).toBe(0)
    o.wants = true
    cm.pump()
    expect(dials.length).toBe(1)
  })

  it('dials PEX-learned candidates after the others and at most pexDialsPerSecond per torrent', async () => {
    const { cm, dials, flush, advance } = setup({ maxHalfOpen: 100, pexDialsPerSecond: 2 })
    const { o } = owner()
    cm.addTorrent('t', o)
    for (let p = 1; p <= 6; p++) expect(cm.addCandidate('t', addr(p), { lowPriority: true })).toBe(true)
    for (let p = 11; p <= 13; p++) expect(cm.addCandidate('t', addr(p))).toBe(true)
    expect(cm.addCandidate('t', addr(2))).toBe(false) // queued already, in whichever tier
    await flush()
    // Every ordinary candidate, then one second's worth of PEX ones, in the order heard.
    expect(dials.map((d) => d.port)).toEqual([11, 12, 13, 1, 2])
    expect(cm.queuedCount('t')).toBe(4)
    cm.pump()
    expect(dials.length).toBe(5)
    advance(500)
    cm.pump()
    expect(dials.map((d) => d.port).slice(5)).toEqual([3])
    // A new ordinary candidate does not wait for the rate.
    cm.addCandidate('t', addr(14))
    await flush()
    expect(dials.map((d) => d.port).slice(6)).toEqual([14])
    advance(10_000)
    cm.pump()
    // The allowance does not pile up while idle: at most one second's worth at once.
    expect(dials.map((d) => d.port).slice(7)).toEqual([4, 5])
    advance(1_000)
    cm.pump()
    expect(dials.map((d) => d.port).slice(9)).toEqual([6])
    expect(cm.queuedCount('t')).toBe(0)
  })

  it('a PEX candidate whose dial failed is retried from the reserve, under the rate', async () => {
    const { cm, dials, flush, advance } = setup({ maxHalfOpen: 100, pexDialsPerSecond: 1, retryBackoffMs: 1_000 })
    const { o } = owner()
    cm.addTorrent('t', o)
    cm.addCandidate('t', addr(1), { lowPriority: true })
    cm.addCandidate('t', addr(2), { lowPriority: true })
    await flush()
    expect(dials.map((d) => d.port)).toEqual([1])
    dials[0]!.reject(new LodestoneError('PEER_CONNECT_FAILED', { address: 'x', reason: 'refused' }))
    await flush()
    advance(1_000)
    cm.pump()
    // One dial a second, and the retry of addr(1) queues behind addr(2) in the reserve.
    expect(dials.map((d) => d.port)).toEqual([1, 2])
    advance(1_000)
    cm.pump()
    expect(dials.map((d) => d.port)).toEqual([1, 2, 1])
  })

  it('a PEX candidate that needs no dial (already connected) costs no part of the rate', async () => {
    const { cm, dials, flush } = setup({ maxHalfOpen: 100, pexDialsPerSecond: 1 })
    const { o } = owner()
    cm.addTorrent('t', o)
    cm.addCandidate('t', addr(1), { lowPriority: true })
    cm.addCandidate('t', addr(2), { lowPriority: true })
    // The peer at addr(1) connects to us while its address waits in the queue.
    const ticket = cm.acceptIncoming(addr(1))
    if (typeof ticket === 'string') throw new Error(ticket)
    expect(typeof ticket.claim('t')).toBe('object')
    await flush()
    expect(dials.map((d) => d.port)).toEqual([2])
  })

  it('bounds the candidate queue and counts drops', () => {
    const { cm } = setup({ maxCandidatesPerTorrent: 2 })
    const { o } = owner(false)
    cm.addTorrent('t', o)
    expect(cm.addCandidate('t', addr(1))).toBe(true)
    expect(cm.addCandidate('t', addr(2))).toBe(true)
    expect(cm.addCandidate('t', addr(3))).toBe(false)
    expect(cm.stats().droppedCandidates).toBe(1)
  })

  it('redials a peer that hung up after the back-off; one that keeps dropping the handshake is forgotten', async () => {
    const { cm, dials, flush, advance } = setup({ retryBackoffMs: 1000, maxConnectAttempts: 3 })
    const { o, outgoing } = owner()
    cm.addTorrent('t', o)
    cm.addCandidate('t', addr(1))
    await flush()
    // Connected, then the peer hung up during the handshake: attempt 1 of 3.
    dials[0]!.resolve(fakeSocket('10.0.0.1', 1))
    await flush()
    outgoing[0]!.slot.release()
    cm.redialLater('t', addr(1))
    expect(cm.queuedCount('t')).toBe(1)
    cm.pump()
    expect(dials.length).toBe(1) // backing off
    advance(1000)
    cm.pump()
    expect(dials.length).toBe(2)
    // Again (attempt 2): back-off doubles.
    dials[1]!.resolve(fakeSocket('10.0.0.1', 1))
    await flush()
    outgoing[1]!.slot.release()
    cm.redialLater('t', addr(1))
    advance(1000)
    cm.pump()
    expect(dials.length).toBe(2)
    advance(1000)
    cm.pump()
    expect(dials.length).toBe(3)
    // Third time: given up.
    dials[2]!.resolve(fakeSocket('10.0.0.1', 1))
    await flush()
    outgoing[2]!.slot.release()
    cm.redialLater('t', addr(1))
    expect(cm.queuedCount('t')).toBe(0)
    expect(cm.addCandidate('t', addr(1))).toBe(false)
  })

  it('a completed handshake resets the back-off count; redialLater ignores unknown torrents', async () => {
    const { cm, dials, flush, advance } = setup({ retryBackoffMs: 1000, maxConnectAttempts: 2 })
    const { o, outgoing } = owner()
    cm.addTorrent('t', o)
    cm.addCandidate('t', addr(1))
    await flush()
    for (let round = 0; round < 3; round++) {
      dials[round]!.resolve(fakeSocket('10.0.0.1', 1))
      await flush()
      const { slot } = outgoing[round]!
      expect(slot.identify(new Uint8Array(20).fill(9))).toBe('ok')
      slot.release()
      cm.redialLater('t', addr(1))
      expect(cm.queuedCount('t')).toBe(1)
      advance(1000)
      cm.pump()
      expect(dials.length).toBe(round + 2)
    }
    cm.redialLater('gone', addr(2))
    expect(cm.queuedCount('gone')).toBe(0)
  })

  it('a hang-up after a good handshake is re-dialled after reconnectDelayMs, doubling, then counts as a failure', async () => {
    const { cm, dials, flush, advance } = setup({ retryBackoffMs: 1000, reconnectDelayMs: 100, maxConnectAttempts: 2 })
    const { o, outgoing } = owner()
    cm.addTorrent('t', o)
    cm.addCandidate('t', addr(1))
    await flush()
    // Hang-ups 1..4 wait 100, 200, 400, 800 ms (< retryBackoffMs): quick re-dials, never forgotten.
    for (let round = 0; round < 4; round++) {
      dials[round]!.resolve(fakeSocket('10.0.0.1', 1))
      await flush()
      const { slot } = outgoing[round]!
      expect(slot.identify(new Uint8Array(20).fill(9))).toBe('ok')
      slot.release()
      cm.redialLater('t', addr(1), { afterHandshake: true })
      const delay = 100 * 2 ** round
      advance(delay - 1)
      cm.pump()
      expect(dials.length, `round ${round}`).toBe(round + 1)
      advance(1)
      cm.pump()
      expect(dials.length, `round ${round}`).toBe(round + 2)
    }
    // The fifth would wait 1600 ms >= retryBackoffMs: a failed attempt (1000 ms), then the second
    // (2000 ms) reaches maxConnectAttempts and the peer is forgotten.
    dials[4]!.resolve(fakeSocket('10.0.0.1', 1))
    await flush()
    expect(outgoing[4]!.slot.identify(new Uint8Array(20).fill(9))).toBe('ok')
    outgoing[4]!.slot.release()
    cm.redialLater('t', addr(1), { afterHandshake: true })
    advance(999)
    cm.pump()
    expect(dials.length).toBe(5)
    advance(1)
    cm.pump()
    expect(dials.length).toBe(6)
    dials[5]!.resolve(fakeSocket('10.0.0.1', 1))
    await flush()
    outgoing[5]!.slot.release() // hung up during the handshake this time
    cm.redialLater('t', addr(1))
    expect(cm.queuedCount('t')).toBe(0)
  })
})
