// Remote input never throws out of PeerConnection (DESIGN rule 6): whatever a peer sends, the
// connection either keeps going or closes with a LodestoneError as the reason.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { ManualClock } from '../../../adapters/memory/manual-clock.js'
import { PeerConnection } from '../../../src/peer/peer-connection.js'
import { resolvePeerSettings } from '../../../src/peer/peer-settings.js'
import { isLodestoneError } from '../../../src/errors.js'
import { encodeMessage, type WireMessage } from '../../../src/protocol/wire-messages.js'
import { concat, FakeSocket, INFO_HASH, LOCAL_ID, remoteHandshake } from './peer-test-kit.js'

const SEED = Number(process.env.FC_SEED ?? 0x9ee2)
const params = { seed: SEED, numRuns: 300, verbose: 1 } as const
console.info(`peer connection property tests: seed ${SEED} (set FC_SEED to replay)`)

const small = fc.nat({ max: 40 })
const arbMessage: fc.Arbitrary<WireMessage> = fc.oneof(
  fc.constantFrom<WireMessage>({ type: 'choke' }, { type: 'unchoke' }, { type: 'interested' }, { type: 'not-interested' }, { type: 'have-all' }, { type: 'have-none' }, { type: 'keep-alive' }),
  small.map((piece): WireMessage => ({ type: 'have', piece })),
  fc.uint8Array({ maxLength: 6 }).map((bytes): WireMessage => ({ type: 'bitfield', bytes })),
  fc.tuple(small, fc.nat({ max: 70_000 }), fc.nat({ max: 200_000 })).map(([piece, begin, length]): WireMessage => ({ type: 'request', piece, begin, length })),
  fc.tuple(small, fc.nat({ max: 70_000 }), fc.uint8Array({ maxLength: 64 })).map(([piece, begin, data]): WireMessage => ({ type: 'piece', piece, begin, data })),
  fc.tuple(small, small, small).map(([piece, begin, length]): WireMessage => ({ type: 'cancel', piece, begin, length })),
  fc.tuple(small, small, small).map(([piece, begin, length]): WireMessage => ({ type: 'reject', piece, begin, length })),
  small.map((piece): WireMessage => ({ type: 'suggest', piece })),
  small.map((piece): WireMessage => ({ type: 'allowed-fast', piece })),
  fc.nat({ max: 0xffff }).map((port): WireMessage => ({ type: 'port', port })),
  fc.tuple(fc.nat({ max: 3 }), fc.uint8Array({ maxLength: 40 })).map(([id, payload]): WireMessage => ({ type: 'extended', id, payload })),
  fc.tuple(fc.constantFrom(10, 21, 200), fc.uint8Array({ maxLength: 8 })).map(([id, payload]): WireMessage => ({ type: 'unknown', id, payload }))
)

function run (input: Uint8Array, cuts: number[], magnet: boolean, fast: boolean): void {
  const clock = new ManualClock()
  const socket = new FakeSocket()
  const peer = new PeerConnection({ socket, clock }, resolvePeerSettings({ enableFastExtension: fast }), {
    infoHash: INFO_HASH, localPeerId: LOCAL_ID, outgoing: true, ...(magnet ? {} : { pieceCount: 20 }),
    readBlock: async ({ length }) => Promise.resolve(new Uint8Array(length))
  })
  let closedWith: unknown = 'open'
  peer.on('closed', ({ reason }) => { closedWith = reason })
  peer.on('unchoked', () => { peer.request(1, 0, 16_384) })
  peer.on('interested', () => { peer.unchoke() })
  const points = [...new Set(cuts.map((c) => c % (input.length + 1)))].sort((a, b) => a - b)
  let last = 0
  for (const p of [...points, input.length]) {
    socket.feed(input.slice(last, p)) // must not throw
    last = p
  }
  if (magnet && peer.state === 'active') peer.setPieceCount(20)
  clock.advance(400_000)
  expect(peer.state).toBe('closed') // the idle time-out at the latest
  expect(closedWith === undefined || isLodestoneError(closedWith)).toBe(true)
  expect(clock.pendingTimers).toBe(0)
}

describe('PeerConnection properties', () => {
  it('any message sequence, in any chunking, never throws out of the connection', () => {
    fc.assert(fc.property(fc.array(arbMessage, { maxLength: 25 }), fc.array(fc.nat(), { maxLength: 10 }), fc.boolean(), fc.boolean(), (messages, cuts, magnet, fast) => {
      run(concat(remoteHandshake(), ...messages.map(encodeMessage)), cuts, magnet, fast)
    }), params)
  })

  it('random bytes after a valid handshake never throw out of the connection', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), fc.array(fc.nat(), { maxLength: 10 }), fc.boolean(), (bytes, cuts, magnet) => {
      run(concat(remoteHandshake(), bytes), cuts, magnet, true)
    }), params)
  })
})
