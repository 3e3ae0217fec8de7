// Two PeerConnections talking to each other over a linked socket pair: the accepting side is
// routed by info hash first (readIncomingHandshakeHeader), then both run the real protocol.
import { describe, expect, it } from 'vitest'
import { ManualClock } from '../../../adapters/memory/manual-clock.js'
import { readIncomingHandshakeHeader } from '../../../src/peer/incoming-handshake.js'
import { PeerConnection } from '../../../src/peer/peer-connection.js'
import { resolvePeerSettings } from '../../../src/peer/peer-settings.js'
import { Bitfield } from '../../../src/util/bitfield.js'
import { FakeSocket, flush, INFO_HASH, LOCAL_ID, REMOTE_ID } from './peer-test-kit.js'

const PIECES = 4
const PIECE_BYTES = 32_768
const content = Uint8Array.from({ length: PIECES * PIECE_BYTES }, (_, i) => (i * 31 + 7) & 0xff)

describe('PeerConnection pair', () => {
  it('a leecher downloads every block from a seeder, byte for byte', async () => {
    const clock = new ManualClock()
    const [dialSocket, acceptSocket] = FakeSocket.pair()
    const settings = resolvePeerSettings()
    const leecher = new PeerConnection({ socket: dialSocket, clock }, settings, {
      infoHash: INFO_HASH, localPeerId: REMOTE_ID, outgoing: true, pieceCount: PIECES
    })
    const { header, socket } = await readIncomingHandshakeHeader({ socket: acceptSocket, clock })
    expect(header.infoHash).toEqual(INFO_HASH)
    const full = new Bitfield(PIECES)
    full.setAll()
    const seeder = new PeerConnection({ socket, clock }, settings, {
      infoHash: header.infoHash,
      localPeerId: LOCAL_ID,
      outgoing: false,
      pieceCount: PIECES,
      localBitfield: () => full,
      readBlock: async ({ piece, begin, length }) => {
        await Promise.resolve()
        return content.slice(piece * PIECE_BYTES + begin, piece * PIECE_BYTES + begin + length)
      }
    })
    seeder.on('interested', () => { seeder.unchoke() })

    const received = new Uint8Array(content.length)
    let receivedBytes = 0
    const pending: Array<[number, number]> = []
    for (let p = 0; p < PIECES; p++) for (let b = 0; b < PIECE_BYTES; b += 16_384) pending.push([p, b])
    const fill = (): void => {
      for (let slots = leecher.availableRequestSlots(); slots > 0 && pending.length > 0; slots--) {
        const [piece, begin] = pending.shift()!
        expect(leecher.request(piece, begin, 16_384)).toBe(true)
      }
    }
    leecher.on('bitfield', ({ bitfield }) => { if (bitfield.isComplete) leecher.interested() })
    leecher.on('unchoked', fill)
    leecher.on('piece-received', ({ piece, begin, data }) => {
      received.set(data, piece * PIECE_BYTES + begin)
      receivedBytes += data.length
      fill()
    })

    await flush(30)
    expect(leecher.clientName).toBe('Lodestone 0.1.0')
    expect(seeder.clientName).toBe('Transmission 3.00')
    expect(leecher.extendedHandshake?.v).toBe('Lodestone 0.1.0')
    expect(leecher.isSeed).toBe(true)
    expect(seeder.peerInterested).toBe(true)
    expect(receivedBytes).toBe(content.length)
    expect(received).toEqual(content)
    expect(seeder.stats().uploadedBytes).toBe(content.length)
    expect(leecher.stats().wastedBytes).toBe(0)

    leecher.close()
    await flush()
    expect(seeder.state).toBe('closed')
    expect(clock.pendingTimers).toBe(0)
  })
})
