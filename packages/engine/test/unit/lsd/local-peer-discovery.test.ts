import { describe, expect, it } from 'vitest'
import { ManualClock } from '../../../adapters/memory/manual-clock.js'
import type { ISocketFactory, IUdpSocket, UdpRemote } from '../../../src/interfaces/socket.js'
import { LocalPeerDiscovery, defaultLsdSettings, type LsdTorrent } from '../../../src/lsd/local-peer-discovery.js'
import { LSD_GROUP_V4, LSD_GROUP_V6, encodeLsdMessage, parseLsdMessage } from '../../../src/lsd/lsd-message.js'
import type { PeerAddress, PeerSource } from '../../../src/peer/peer-address.js'
import { TorrentState } from '../../../src/torrent/torrent-state.js'

/** One multicast socket per group; records what was sent and lets the test deliver datagrams. */
class GroupSocket implements IUdpSocket {
  readonly port = 6771
  readonly sent: Array<{ data: Uint8Array, host: string }> = []
  receive: ((data: Uint8Array, remote: UdpRemote) => void) | null = null
  constructor (readonly group: string) {}
  send (data: Uint8Array, host: string): void { this.sent.push({ data: data.slice(), host }) }
  onMessage (cb: (data: Uint8Array, remote: UdpRemote) => void): void { this.receive = cb }
  close (): void {}
}

function setup (): { lsd: LocalPeerDiscovery, clock: ManualClock, sockets: GroupSocket[], torrent: LsdTorrent, added: Array<[PeerAddress, PeerSource]> } {
  const clock = new ManualClock()
  const sockets: GroupSocket[] = []
  const socketFactory: ISocketFactory = {
    connectTcp: async () => { throw new Error('unused') },
    listenTcp: async () => { throw new Error('unused') },
    bindUdp: async () => { throw new Error('unused') },
    bindUdpMulticast: async (group: string) => {
      const socket = new GroupSocket(group)
      sockets.push(socket)
      return socket
    }
  }
  let n = 0
  const lsd = new LocalPeerDiscovery({
    socketFactory,
    clock,
    random: { next: () => 0.5, fill: (b) => b.fill(++n) },
    settings: () => ({ discovery: { lsd: true }, lsd: { ...defaultLsdSettings }, listen: { host: '0.0.0.0' } }),
    listenPort: () => 51413,
    onWarning: (error) => { throw error }
  })
  const added: Array<[PeerAddress, PeerSource]> = []
  const known = new Set<string>()
  const torrent: LsdTorrent = {
    id: 't1',
    state: TorrentState.Seeding,
    hasMetadata: true,
    meta: { private: false },
    handshakeHashes: () => [new Uint8Array(20).fill(0xab)],
    addPeer: (address, source) => {
      added.push([address, source])
      const key = `${address.host}:${address.port}`
      if (known.has(key)) return false
      known.add(key)
      return true
    },
    on: () => () => {}
  }
  return { lsd, clock, sockets, torrent, added }
}

describe('LocalPeerDiscovery', () => {
  it('counts announces sent and received, peers found, and leaves out its own echoes and malformed datagrams', async () => {
    const { lsd, clock, sockets, torrent, added } = setup()
    expect(lsd.stats()).toBeNull() // not started
    lsd.track(torrent)
    await lsd.start()
    clock.advance(0)
    expect(sockets.map((s) => s.group)).toEqual([LSD_GROUP_V4, LSD_GROUP_V6])
    for (const s of sockets) {
      expect(s.sent.map((m) => m.host)).toEqual([s.group])
      expect(parseLsdMessage(s.sent[0]!.data)).toMatchObject({ port: 51413, infoHashes: ['ab'.repeat(20)] })
    }
    const v4 = sockets[0]!
    const v6 = sockets[1]!
    // Our own announce comes back through multicast loopback: not an announce from anyone.
    v4.receive!(v4.sent[0]!.data, { address: '192.168.1.5', port: 6771 })
    const other = encodeLsdMessage(LSD_GROUP_V4, 6881, ['ab'.repeat(20), 'cd'.repeat(20)], 'other')
    v4.receive!(other, { address: '192.168.1.7', port: 6771 })
    v4.receive!(other, { address: '192.168.1.7', port: 6771 }) // the same peer again: not found twice
    v6.receive!(encodeLsdMessage(LSD_GROUP_V6, 6882, ['ab'.repeat(20)], 'other6'), { address: 'fd00::7', port: 6771 })
    v4.receive!(new TextEncoder().encode('NOTIFY * HTTP/1.1\r\n\r\n'), { address: '192.168.1.8', port: 1900 })
    expect(added).toEqual([
      [{ host: '192.168.1.7', port: 6881 }, 'lsd'],
      [{ host: '192.168.1.7', port: 6881 }, 'lsd'],
      [{ host: 'fd00::7', port: 6882 }, 'lsd']
    ])
    expect(lsd.stats()).toEqual({ announcesOut: 2, messagesIn: 5, announcesIn: 3, malformed: 1, peersFound: 2 })
    lsd.close()
  })
})
