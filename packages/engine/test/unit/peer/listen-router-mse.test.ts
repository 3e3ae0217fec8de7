import { describe, expect, it } from 'vitest'
import { ManualClock } from '../../../adapters/memory/manual-clock.js'
import type { ITcpServer, ITcpSocket, ISocketFactory } from '../../../src/interfaces/index.js'
import { seededRandom } from '../../../src/interfaces/random.js'
import { ConnectionManager } from '../../../src/peer/connection-manager.js'
import { defaultConnectionSettings } from '../../../src/peer/connection-settings.js'
import { ListenRouter } from '../../../src/peer/listen-router.js'
import type { HandshakeHeader } from '../../../src/protocol/handshake.js'
import { EncryptionPolicy } from '../../../src/transport/mse/encryption-policy.js'
import { defaultEncryptionSettings, type EncryptionSettings } from '../../../src/transport/mse/encryption-settings.js'
import { CRYPTO_RC4 } from '../../../src/transport/mse/mse-handshake.js'
import { MseSocket } from '../../../src/transport/mse/mse-socket.js'
import { FakeSocket, flush, remoteHandshake, ALL_FEATURES } from './peer-test-kit.js'

const V1 = new Uint8Array(20).fill(0x11)
/** A hybrid torrent's v2 hash, truncated to 20 bytes as handshakes and SKEYs use it. */
const V2_TRUNCATED = new Uint8Array(20).fill(0x22)
const OTHER = new Uint8Array(20).fill(0x33)

function setup (settings: Partial<EncryptionSettings> = {}) {
  const clock = new ManualClock()
  const random = seededRandom(3)
  let onConn: ((s: ITcpSocket) => void) | null = null
  const server: ITcpServer = { port: 40000, onConnection (cb) { onConn = cb }, close: async () => {} }
  const socketFactory: ISocketFactory = {
    connectTcp: async () => { throw new Error('unused') },
    listenTcp: async () => server,
    bindUdp: async () => { throw new Error('unused') }
  }
  const connections = new ConnectionManager({ socketFactory, clock, peerId: new Uint8Array(20) }, { ...defaultConnectionSettings })
  const encryption = new EncryptionPolicy({ clock, random, settings: () => ({ ...defaultEncryptionSettings, ...settings }) })
  const router = new ListenRouter({ socketFactory, clock, connections, encryption })
  const routed: Array<{ to: string, header: HandshakeHeader, socket: ITcpSocket }> = []
  for (const [name, hash] of [['v1', V1], ['v2', V2_TRUNCATED], ['other', OTHER]] as const) {
    router.register(hash, (socket, header, ticket) => {
      routed.push({ to: name, header, socket })
      ticket.release()
    })
  }
  /** A remote peer dials us with MSE keyed by `skey` and sends a BitTorrent handshake naming `infoHash`. */
  const dialEncrypted = async (skey: Uint8Array, infoHash: Uint8Array): Promise<FakeSocket> => {
    const [local, remote] = FakeSocket.pair()
    onConn?.(local)
    const mse = MseSocket.initiate(remote, { clock, random: seededRandom(9) }, { skey, cryptoProvide: CRYPTO_RC4, timeoutMs: 5_000 })
    mse.onData(() => {})
    mse.onClose(() => {})
    mse.send(remoteHandshake(ALL_FEATURES, infoHash))
    await flush(10)
    return local
  }
  return { router, encryption, routed, dialEncrypted, connect: (socket: ITcpSocket) => { onConn?.(socket) } }
}

describe('ListenRouter with MSE/PE', () => {
  it('finds the torrent by SKEY among every registered hash, the truncated v2 hash of a hybrid included', async () => {
    const { router, encryption, routed, dialEncrypted } = setup()
    await router.listen(0, '127.0.0.1')
    await dialEncrypted(V2_TRUNCATED, V2_TRUNCATED)
    await dialEncrypted(V1, V1)
    expect(routed.map((r) => r.to)).toEqual(['v2', 'v1'])
    expect(routed.map((r) => r.socket.encryption)).toEqual(['rc4', 'rc4'])
    expect(routed[0]?.header.infoHash).toEqual(V2_TRUNCATED)
    expect(encryption.stats()).toMatchObject({ incomingRc4: 2, failures: {} })
  })

  it('closes an opening whose SKEY is none of ours (unknown-skey), counted', async () => {
    const { router, encryption, routed, dialEncrypted } = setup()
    await router.listen(0, '127.0.0.1')
    const local = await dialEncrypted(new Uint8Array(20).fill(0x77), new Uint8Array(20).fill(0x77))
    expect(local.closed).toBe(true)
    expect(routed).toEqual([])
    expect(encryption.stats().failures).toEqual({ 'unknown-skey': 1 })
    expect(router.stats().handshakeFailures).toBe(1)
  })

  it('closes a connection whose handshake names another torrent than its SKEY (skey-mismatch)', async () => {
    const { router, encryption, routed, dialEncrypted } = setup()
    await router.listen(0, '127.0.0.1')
    const local = await dialEncrypted(V1, OTHER)
    expect(local.closed).toBe(true)
    expect(routed).toEqual([])
    expect(encryption.stats().failures).toEqual({ 'skey-mismatch': 1 })
  })

  it('require refuses a plaintext opening; disable refuses an encrypted one', async () => {
    const required = setup({ mode: 'require' })
    await required.router.listen(0, '127.0.0.1')
    // A plaintext opening: the BitTorrent handshake straight away.
    const plain = new FakeSocket('10.0.0.9', 4000)
    required.connect(plain)
    plain.feed(remoteHandshake(ALL_FEATURES, V1))
    await flush(5)
    expect(plain.closed).toBe(true)
    expect(required.encryption.stats().failures).toEqual({ 'plaintext-refused': 1 })

    const disabled = setup({ mode: 'disable' })
    await disabled.router.listen(0, '127.0.0.1')
    const refused = await disabled.dialEncrypted(V1, V1)
    expect(refused.closed).toBe(true)
    expect(disabled.routed).toEqual([])
    expect(disabled.encryption.stats().failures).toEqual({ 'encrypted-refused': 1 })
  })
})
