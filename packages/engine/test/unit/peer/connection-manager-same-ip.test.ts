/**
 * Every interop peer lives on 127.0.0.1 (and peers behind one NAT share an address): peers are
 * told apart by host and port, never by host alone — except for bans, which are per host.
 */
import { describe, expect, it } from 'vitest'
import { ConnectionManager, type ConnectionSlot } from '../../../src/peer/connection-manager.js'
import { defaultConnectionSettings } from '../../../src/peer/connection-settings.js'
import type { IClock, ITcpSocket, ISocketFactory } from '../../../src/interfaces/index.js'

function fakeSocket (host: string, port: number): ITcpSocket {
  return {
    remoteAddress: host, remotePort: port, localPort: 1, bufferedBytes: 0,
    send: () => true, pause () {}, resume () {}, onData () {}, onDrain () {}, onClose () {}, close () {}
  }
}

describe('ConnectionManager: one IP, several peers', () => {
  it('dials and keeps peers on the same host with different ports and ids; a self address blocks only its own port', async () => {
    const dials: Array<{ port: number, resolve: (s: ITcpSocket) => void }> = []
    const clock: IClock = { now: () => 0, wallNow: () => 0, setTimeout: () => ({ cancel () {} }), setInterval: () => ({ cancel () {} }) }
    const socketFactory: ISocketFactory = {
      connectTcp: async (_host, port) => new Promise((resolve) => { dials.push({ port, resolve }) }),
      listenTcp: async () => { throw new Error('unused') },
      bindUdp: async () => { throw new Error('unused') }
    }
    const ourId = new Uint8Array(20).fill(7)
    const cm = new ConnectionManager({ socketFactory, clock, peerId: ourId }, { ...defaultConnectionSettings })
    const slots: ConnectionSlot[] = []
    cm.addTorrent('t', { wantsConnections: () => true, onOutgoing: (_socket, slot) => { slots.push(slot) } })
    const flush = async (): Promise<void> => { for (let i = 0; i < 5; i++) await Promise.resolve() }

    for (const port of [7001, 7002, 7003]) expect(cm.addCandidate('t', { host: '127.0.0.1', port })).toBe(true)
    await flush()
    expect(dials.map((d) => d.port)).toEqual([7001, 7002, 7003])
    for (const d of dials) d.resolve(fakeSocket('127.0.0.1', d.port))
    await flush()
    expect(slots).toHaveLength(3)
    // 7001 turns out to be ourselves; the other two are distinct peers.
    expect(slots[0]!.identify(ourId)).toBe('self')
    expect(slots[1]!.identify(new Uint8Array(20).fill(1))).toBe('ok')
    expect(slots[2]!.identify(new Uint8Array(20).fill(2))).toBe('ok')
    slots[0]!.release()
    expect(cm.addCandidate('t', { host: '127.0.0.1', port: 7001 })).toBe(false)
    expect(cm.addCandidate('t', { host: '127.0.0.1', port: 7004 })).toBe(true)
    expect(cm.stats()).toMatchObject({ connections: 2, duplicates: 0, selfConnections: 1 })
    // Incoming connections from the same host on other ports are admitted too.
    const ticket = cm.acceptIncoming({ host: '127.0.0.1', port: 50_000 })
    expect(typeof ticket).not.toBe('string')
    cm.close()
  })
})
