import { describe, expect, it } from 'vitest'
import { ManualClock } from '../../../adapters/memory/manual-clock.js'
import { CoarseScheduler } from '../../../src/util/coarse-scheduler.js'
import { PexHandler, type PexCandidate } from '../../../src/pex/pex-handler.js'
import { defaultPexSettings, type PexSettings } from '../../../src/pex/pex-settings.js'
import type { PeerAddress } from '../../../src/peer/peer-address.js'
import { hasCode } from '../../../src/errors.js'
import type { ExtendedHandshake, PeerExtension, PeerExtensionContext } from '../../../src/protocol/extension-protocol.js'
import { decodePexMessage, encodePexMessage, type PexPeer } from '../../../src/protocol/ut-pex.js'

interface FakePeer {
  ext: PeerExtension
  sent: Uint8Array[]
  remoteId: number | undefined
}

function setup (over: Partial<PexSettings> = {}): {
  clock: ManualClock
  handler: PexHandler
  connected: PexCandidate[]
  learned: Array<{ peers: PexPeer[], from: string }>
  connect: (address: PeerAddress, options?: { pex?: boolean, yourip?: Uint8Array }) => FakePeer
  close: () => void
} {
  const clock = new ManualClock()
  const scheduler = new CoarseScheduler({ clock })
  const settings: PexSettings = { ...defaultPexSettings, ...over }
  const connected: PexCandidate[] = []
  const learned: Array<{ peers: PexPeer[], from: string }> = []
  const handler = new PexHandler({
    clock,
    scheduler,
    settings: () => settings,
    connectedPeers: () => connected,
    onPeers: (peers, from) => { learned.push({ peers, from }) },
    listenPort: () => 6881
  })
  const connect = (address: PeerAddress, options: { pex?: boolean, yourip?: Uint8Array } = {}): FakePeer => {
    const peer: FakePeer = { ext: null as unknown as PeerExtension, sent: [], remoteId: options.pex === false ? undefined : 7 }
    const handshake: ExtendedHandshake = { m: new Map(peer.remoteId === undefined ? [] : [['ut_pex', 7]]), dict: new Map(), ...(options.yourip !== undefined ? { yourip: options.yourip } : {}) }
    const context: PeerExtensionContext = {
      send: (payload) => { if (peer.remoteId === undefined) return false; peer.sent.push(payload.slice()); return true },
      get remoteId () { return peer.remoteId },
      remoteHandshake: handshake,
      close: () => {},
      logger: undefined
    }
    peer.ext = handler.extension(address)(context)
    peer.ext.onHandshake?.(handshake, peer.remoteId)
    return peer
  }
  return { clock, handler, connected, learned, connect, close: () => { handler.close(); scheduler.close() } }
}

const candidate = (host: string, port: number, flags = 0x10): PexCandidate => ({ connectionKey: `${host}:${port}`, address: { host, port }, flags })
const decode = (payload: Uint8Array): ReturnType<typeof decodePexMessage> => decodePexMessage(payload, 1000)

describe('PexHandler', () => {
  it('sends the connected peers (not the recipient) at the first tick, then diffs at most once per interval', () => {
    const t = setup({ intervalMs: 60_000 })
    const a = candidate('10.0.0.1', 1)
    const b = candidate('10.0.0.2', 2)
    t.connected.push(a, b)
    const peerA = t.connect(a.address)
    t.clock.advance(1_000)
    expect(peerA.sent).toHaveLength(1)
    expect(decode(peerA.sent[0]!).added).toEqual([{ address: b.address, flags: 0x10 }])
    // A new peer and a dropped one: nothing before the interval has passed.
    const c = candidate('10.0.0.3', 3)
    t.connected.splice(1, 1, c)
    t.clock.advance(58_000)
    expect(peerA.sent).toHaveLength(1)
    t.clock.advance(2_000)
    expect(peerA.sent).toHaveLength(2)
    const diff = decode(peerA.sent[1]!)
    expect(diff.added.map((p) => p.address)).toEqual([c.address])
    expect(diff.dropped).toEqual([b.address])
    // Nothing changed: nothing sent, however long we wait.
    t.clock.advance(300_000)
    expect(peerA.sent).toHaveLength(2)
    expect(t.handler.stats().messagesSent).toBe(2)
    t.close()
  })

  it('does not send to peers without ut_pex, and stops at close', () => {
    const t = setup({ intervalMs: 1_000 })
    t.connected.push(candidate('10.0.0.1', 1), candidate('10.0.0.2', 2))
    const noPex = t.connect({ host: '10.0.0.9', port: 9 }, { pex: false })
    const withPex = t.connect({ host: '10.0.0.8', port: 8 })
    t.clock.advance(2_000)
    expect(noPex.sent).toHaveLength(0)
    expect(withPex.sent).toHaveLength(1)
    t.close()
    t.connected.push(candidate('10.0.0.3', 3))
    t.clock.advance(10_000)
    expect(withPex.sent).toHaveLength(1)
  })

  it('caps added and dropped per message and sends the rest later', () => {
    const t = setup({ intervalMs: 1_000, maxAddedPerMessage: 50, maxDroppedPerMessage: 50 })
    for (let i = 0; i < 120; i++) t.connected.push(candidate(`10.0.1.${i}`, 1000 + i))
    const peer = t.connect({ host: '10.9.9.9', port: 1 })
    t.clock.advance(1_000)
    t.clock.advance(1_000)
    t.clock.advance(1_000)
    const counts = peer.sent.map((m) => decode(m).added.length)
    expect(counts).toEqual([50, 50, 20])
    const all = new Set(peer.sent.flatMap((m) => decode(m).added.map((p) => `${p.address.host}:${p.address.port}`)))
    expect(all.size).toBe(120)
    t.connected.length = 0
    t.clock.advance(1_000)
    t.clock.advance(1_000)
    t.clock.advance(1_000)
    expect(peer.sent.slice(3).map((m) => decode(m).dropped.length)).toEqual([50, 50, 20])
    t.close()
  })

  it('advertises IPv6 peers in added6 and keeps same-IP peers on different ports apart', () => {
    const t = setup({ intervalMs: 1_000 })
    t.connected.push(candidate('::1', 7000), candidate('127.0.0.1', 7001), candidate('127.0.0.1', 7002))
    const peer = t.connect({ host: '127.0.0.1', port: 7003 })
    t.clock.advance(1_000)
    const msg = decode(peer.sent[0]!)
    expect(msg.added.map((p) => `${p.address.host}:${p.address.port}`).sort()).toEqual(['127.0.0.1:7001', '127.0.0.1:7002', '::1:7000'])
    t.close()
  })

  it('hands learned peers over, minus ourselves (yourip + our port), and ignores a flood', () => {
    const t = setup({ minIncomingIntervalMs: 30_000, maxIncomingPeersPerMessage: 50 })
    const peer = t.connect({ host: '10.0.0.1', port: 1 }, { yourip: Uint8Array.from([10, 0, 0, 200]) })
    const added = Array.from({ length: 80 }, (_, i) => ({ address: { host: '10.0.2.1', port: 2000 + i }, flags: 0 }))
    added.unshift({ address: { host: '10.0.0.200', port: 6881 }, flags: 0x10 })
    peer.ext.onMessage(encodePexMessage({ added, dropped: [] }))
    expect(t.learned).toHaveLength(1)
    expect(t.learned[0]!.from).toBe('10.0.0.1:1')
    expect(t.learned[0]!.peers).toHaveLength(49)
    expect(t.learned[0]!.peers.some((p) => p.address.host === '10.0.0.200')).toBe(false)
    // Flooding: a second message 10 s later is ignored, one after 30 s is read.
    t.clock.advance(10_000)
    peer.ext.onMessage(encodePexMessage({ added: [{ address: { host: '10.0.3.1', port: 1 }, flags: 0 }], dropped: [] }))
    expect(t.learned).toHaveLength(1)
    t.clock.advance(20_000)
    peer.ext.onMessage(encodePexMessage({ added: [{ address: { host: '10.0.3.1', port: 1 }, flags: 0 }], dropped: [] }))
    expect(t.learned).toHaveLength(2)
    expect(t.handler.stats()).toMatchObject({ messagesReceived: 2, messagesIgnored: 1, peersLearned: 50, peersIgnored: 32 })
    t.close()
  })

  it('throws a typed error on a malformed message (the connection closes the peer)', () => {
    const t = setup()
    const peer = t.connect({ host: '10.0.0.1', port: 1 })
    let error: unknown = null
    try { peer.ext.onMessage(Uint8Array.from([0x6c, 0x65, 0x65])) } catch (e) { error = e }
    expect(hasCode(error, 'PEER_PROTOCOL_VIOLATION')).toBe(true)
    t.close()
  })

  it('forgets a connection when it closes', () => {
    const t = setup({ intervalMs: 1_000 })
    t.connected.push(candidate('10.0.0.1', 1))
    const peer = t.connect({ host: '10.0.0.2', port: 2 })
    peer.ext.onClose?.()
    t.clock.advance(5_000)
    expect(peer.sent).toHaveLength(0)
    t.close()
  })
})
