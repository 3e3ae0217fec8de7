import { describe, expect, it } from 'vitest'
import { ManualClock } from '../../../adapters/memory/manual-clock.js'
import { LodestoneError } from '../../../src/errors.js'
import type { ConnectOptions, ISocketFactory, ITcpSocket } from '../../../src/interfaces/socket.js'
import { PeerDialer, type UtpDialer } from '../../../src/transport/peer-dialer.js'
import { defaultTransportSettings, type TransportSettings } from '../../../src/transport/transport-settings.js'
import { FakeSocket } from '../peer/peer-test-kit.js'

class UtpFake extends FakeSocket {
  readonly transport = 'utp' as const
}

/** A connect the test settles by hand; `signal` aborts reject it as the real ones do. */
interface Pending {
  resolve: (socket: ITcpSocket) => void
  reject: (error: unknown) => void
  options: ConnectOptions
}

function pendingConnect (list: Pending[], options: ConnectOptions = {}): Promise<ITcpSocket> {
  return new Promise<ITcpSocket>((resolve, reject) => {
    options.signal?.addEventListener('abort', () => { reject(new LodestoneError('ABORTED', { operation: 'connect' })) }, { once: true })
    list.push({ resolve, reject, options })
  })
}

function setup (settings: Partial<TransportSettings> = {}): {
  clock: ManualClock
  dialer: PeerDialer
  tcp: Pending[]
  utp: Pending[]
} {
  const clock = new ManualClock()
  const tcp: Pending[] = []
  const utp: Pending[] = []
  const socketFactory = {
    connectTcp: async (_h: string, _p: number, o?: ConnectOptions) => pendingConnect(tcp, o),
    listenTcp: async () => { throw new Error('unused') },
    bindUdp: async () => { throw new Error('unused') }
  } satisfies ISocketFactory
  const utpDialer: UtpDialer = { connect: async (_h, _p, o) => pendingConnect(utp, o) }
  const dialer = new PeerDialer({
    socketFactory,
    clock,
    utpFor: () => utpDialer,
    settings: () => ({ ...defaultTransportSettings, ...settings })
  })
  return { clock, dialer, tcp, utp }
}

const flush = async (): Promise<void> => { for (let i = 0; i < 5; i++) await Promise.resolve() }
const failed = (): LodestoneError => new LodestoneError('PEER_CONNECT_FAILED', { address: 'x', reason: 'timeout' })

const bytes = (...b: number[]): Uint8Array => Uint8Array.from(b)

/** What a consumer of the dialled socket saw. */
function consume (socket: ITcpSocket): { data: number[], closed: Array<LodestoneError | undefined> } {
  const seen = { data: [] as number[], closed: [] as Array<LodestoneError | undefined> }
  socket.onData((d) => { seen.data.push(...d) })
  socket.onClose((reason) => { seen.closed.push(reason) })
  return seen
}

describe('PeerDialer', () => {
  it('races both; uTP answering first wins and TCP is aborted', async () => {
    const { clock, dialer, tcp, utp } = setup()
    const dial = dialer.connect('10.0.0.1', 6881)
    await flush()
    expect([tcp.length, utp.length]).toEqual([1, 1])
    const utpSocket = new UtpFake()
    utp[0]!.resolve(utpSocket)
    expect(await dial).toBe(utpSocket)
    expect(tcp[0]!.options.signal?.aborted).toBe(true)
    expect(dialer.stats()).toMatchObject({ utpConnections: 1, tcpConnections: 0, races: 1, tcpDiscarded: 0 })
    expect(dialer.knownTransport('10.0.0.1', 6881)).toBe('utp')
    expect(clock.pendingTimers).toBe(0)
  })

  it('TCP connecting first is used at once; uTP answering before the peer\'s first byte takes over with what was sent replayed', async () => {
    const { clock, dialer, tcp, utp } = setup()
    const dial = dialer.connect('10.0.0.1', 6881)
    await flush()
    clock.advance(10)
    const tcpSocket = new FakeSocket()
    tcp[0]!.resolve(tcpSocket)
    const socket = await dial
    expect(socket.transport ?? 'tcp').toBe('tcp')
    const seen = consume(socket)
    // The handshake starts on TCP with no wait.
    expect(socket.send(bytes(1, 2, 3))).toBe(true)
    expect(socket.send(bytes(4))).toBe(true)
    expect([...tcpSocket.sentBytes()]).toEqual([1, 2, 3, 4])
    expect(dialer.stats()).toMatchObject({ tcpConnections: 0, utpConnections: 0 })
    const utpSocket = new UtpFake()
    utp[0]!.resolve(utpSocket)
    await flush()
    expect(socket.transport).toBe('utp')
    expect([...utpSocket.sentBytes()]).toEqual([1, 2, 3, 4])
    expect(tcpSocket.closed).toBe(true)
    await flush()
    expect(seen.closed).toEqual([]) // the TCP close is not the connection's
    utpSocket.feed(bytes(9, 8))
    tcpSocket.feed(bytes(7)) // too late: ignored
    expect(seen.data).toEqual([9, 8])
    socket.send(bytes(5))
    expect([...utpSocket.sentBytes()]).toEqual([1, 2, 3, 4, 5])
    expect(dialer.stats()).toMatchObject({ utpConnections: 1, tcpConnections: 0, races: 1, tcpDiscarded: 1 })
    expect(dialer.knownTransport('10.0.0.1', 6881)).toBe('utp')
    expect(clock.pendingTimers).toBe(0)
    socket.close()
    await flush()
    expect(utpSocket.closed).toBe(true)
    expect(seen.closed).toEqual([undefined])
  })

  it('a TCP-only peer (uTP SYN unanswered): its first byte over TCP keeps TCP, aborts uTP, and the next dial is TCP alone', async () => {
    const { clock, dialer, tcp, utp } = setup()
    const dial = dialer.connect('10.0.0.1', 6881)
    await flush()
    clock.advance(30)
    const tcpSocket = new FakeSocket()
    tcp[0]!.resolve(tcpSocket)
    const socket = await dial
    const seen = consume(socket)
    socket.send(bytes(1))
    expect(utp[0]!.options.signal?.aborted).toBe(false)
    tcpSocket.feed(bytes(2, 3))
    expect(seen.data).toEqual([2, 3])
    expect(utp[0]!.options.signal?.aborted).toBe(true)
    expect(socket.transport ?? 'tcp').toBe('tcp')
    expect(dialer.knownTransport('10.0.0.1', 6881)).toBe('tcp')
    expect(dialer.stats()).toMatchObject({ tcpConnections: 1, utpConnections: 0, tcpDiscarded: 0 })
    expect(clock.pendingTimers).toBe(0)

    const again = dialer.connect('10.0.0.1', 6881)
    await flush()
    expect([tcp.length, utp.length]).toEqual([2, 1])
    const second = new FakeSocket()
    tcp[1]!.resolve(second)
    expect(await again).toBe(second)
  })

  it('uTP may take over for at most utpGraceMs after TCP connected', async () => {
    const { clock, dialer, tcp, utp } = setup({ utpGraceMs: 50 })
    const dial = dialer.connect('10.0.0.1', 6881)
    await flush()
    clock.advance(1_000)
    const tcpSocket = new FakeSocket()
    tcp[0]!.resolve(tcpSocket)
    const socket = await dial
    consume(socket)
    clock.advance(49)
    expect(utp[0]!.options.signal?.aborted).toBe(false)
    clock.advance(1)
    expect(utp[0]!.options.signal?.aborted).toBe(true)
    expect(dialer.knownTransport('10.0.0.1', 6881)).toBe('tcp')
    await flush()
    expect(socket.transport ?? 'tcp').toBe('tcp')
    expect(tcpSocket.closed).toBe(false)
  })

  it('a uTP-only peer that accepts TCP and closes it unread is reached over uTP, the handshake replayed', async () => {
    const { clock, dialer, tcp, utp } = setup()
    const dial = dialer.connect('10.0.0.1', 6881)
    await flush()
    clock.advance(1)
    const tcpSocket = new FakeSocket()
    tcp[0]!.resolve(tcpSocket)
    const socket = await dial
    const seen = consume(socket)
    socket.send(bytes(1, 2))
    tcpSocket.remoteClosed()
    socket.send(bytes(3)) // while waiting for uTP: kept for the replay
    clock.advance(21) // within 2 × 1 ms + 20 ms
    const utpSocket = new UtpFake()
    utp[0]!.resolve(utpSocket)
    await flush()
    expect(seen.closed).toEqual([])
    expect(socket.transport).toBe('utp')
    expect([...utpSocket.sentBytes()]).toEqual([1, 2, 3])
    expect(dialer.stats()).toMatchObject({ utpConnections: 1, tcpDiscarded: 1 })
  })

  it('TCP closed unread with no uTP answer ends the connection with the TCP reason soon (a TCP-only peer refusing encryption)', async () => {
    const { clock, dialer, tcp, utp } = setup()
    const dial = dialer.connect('10.0.0.1', 6881)
    await flush()
    clock.advance(10)
    const tcpSocket = new FakeSocket()
    tcp[0]!.resolve(tcpSocket)
    const socket = await dial
    const seen = consume(socket)
    const reason = new LodestoneError('PEER_CLOSED', { reason: 'reset' })
    tcpSocket.remoteClosed(reason)
    clock.advance(39)
    expect(seen.closed).toEqual([])
    clock.advance(1) // 2 × 10 ms + 20 ms
    expect(seen.closed).toEqual([reason])
    expect(utp[0]!.options.signal?.aborted).toBe(true)
    expect(dialer.knownTransport('10.0.0.1', 6881)).toBeUndefined()
    expect(clock.pendingTimers).toBe(0)
  })

  it('fails with the TCP error when both fail, and uTP failing first still waits for TCP', async () => {
    const { dialer, tcp, utp } = setup()
    const dial = dialer.connect('10.0.0.1', 6881)
    await flush()
    utp[0]!.reject(failed())
    await flush()
    const refused = new LodestoneError('PEER_CONNECT_FAILED', { address: '10.0.0.1:6881', reason: 'ECONNREFUSED' })
    tcp[0]!.reject(refused)
    await expect(dial).rejects.toBe(refused)

    const dial2 = dialer.connect('10.0.0.2', 6881)
    await flush()
    utp[1]!.reject(failed())
    await flush()
    const s = new FakeSocket()
    tcp[1]!.resolve(s)
    expect(await dial2).toBe(s)
  })

  it('a remembered uTP peer is dialled over uTP alone with the short time-out, then TCP when that fails', async () => {
    const { dialer, tcp, utp } = setup({ utpConnectTimeoutMs: 1_500 })
    const first = dialer.connect('10.0.0.1', 6881, { timeoutMs: 10_000 })
    await flush()
    utp[0]!.resolve(new UtpFake())
    await first
    const again = dialer.connect('10.0.0.1', 6881, { timeoutMs: 10_000 })
    await flush()
    expect(utp[1]!.options.timeoutMs).toBe(1_500)
    expect(tcp.length).toBe(1) // only the first race's (aborted) TCP dial
    utp[1]!.reject(failed())
    await flush()
    const s = new FakeSocket()
    tcp[1]!.resolve(s)
    expect(await again).toBe(s)
    expect(dialer.stats().fallbacks).toBe(1)
    expect(dialer.knownTransport('10.0.0.1', 6881)).toBe('tcp')
  })

  it('a peer hinted as uTP-capable (PEX 0x04) is dialled over uTP alone first; a known transport outranks the hint', async () => {
    const { dialer, tcp, utp } = setup({ utpConnectTimeoutMs: 1_500 })
    dialer.hintUtp('10.0.0.1', 6881)
    const first = dialer.connect('10.0.0.1', 6881, { timeoutMs: 10_000 })
    await flush()
    expect(tcp.length).toBe(0)
    expect(utp[0]!.options.timeoutMs).toBe(1_500)
    utp[0]!.resolve(new UtpFake())
    expect((await first).transport).toBe('utp')
    expect(dialer.stats().races).toBe(0)
    expect(dialer.knownTransport('10.0.0.1', 6881)).toBe('utp')
    // A hinted peer whose uTP fails is reached over TCP, and remembered so.
    dialer.hintUtp('10.0.0.2', 6881)
    const second = dialer.connect('10.0.0.2', 6881)
    await flush()
    utp[1]!.reject(failed())
    await flush()
    const s = new FakeSocket()
    tcp[0]!.resolve(s)
    expect(await second).toBe(s)
    expect(dialer.knownTransport('10.0.0.2', 6881)).toBe('tcp')
    // Known to work over TCP: a later hint changes nothing.
    dialer.hintUtp('10.0.0.2', 6881)
    void dialer.connect('10.0.0.2', 6881)
    await flush()
    expect(tcp.length).toBe(2)
    expect(utp.length).toBe(2)
  })

  it('with one transport off dials only the other', async () => {
    const tcpOnly = setup({ utp: false })
    const d1 = tcpOnly.dialer.connect('10.0.0.1', 6881)
    await flush()
    expect([tcpOnly.tcp.length, tcpOnly.utp.length]).toEqual([1, 0])
    tcpOnly.tcp[0]!.resolve(new FakeSocket())
    await d1
    const utpOnly = setup({ tcp: false })
    const d2 = utpOnly.dialer.connect('10.0.0.1', 6881, { timeoutMs: 7_000 })
    await flush()
    expect([utpOnly.tcp.length, utpOnly.utp.length]).toEqual([0, 1])
    expect(utpOnly.utp[0]!.options.timeoutMs).toBe(7_000)
    utpOnly.utp[0]!.resolve(new UtpFake())
    await d2
  })

  it('aborting the dial aborts both attempts; closing a provisional TCP socket aborts uTP', async () => {
    const { clock, dialer, tcp, utp } = setup()
    const abort = new AbortController()
    const dial = dialer.connect('10.0.0.1', 6881, { signal: abort.signal })
    await flush()
    abort.abort()
    await expect(dial).rejects.toMatchObject({ code: 'ABORTED' })
    expect(tcp[0]!.options.signal?.aborted).toBe(true)
    expect(utp[0]!.options.signal?.aborted).toBe(true)

    const dial2 = dialer.connect('10.0.0.2', 6881)
    await flush()
    const tcpSocket = new FakeSocket()
    tcp[1]!.resolve(tcpSocket)
    const socket = await dial2
    const seen = consume(socket)
    socket.close()
    await flush()
    expect(tcpSocket.closed).toBe(true)
    expect(utp[1]!.options.signal?.aborted).toBe(true)
    expect(seen.closed).toEqual([undefined])
    expect(clock.pendingTimers).toBe(0)
  })
})
