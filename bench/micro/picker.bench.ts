// What does the piece picker cost per piece on a big torrent, and what does the bucketed rarity
// order buy over scanning every piece? One question: picker overhead per downloaded piece.
//
// Torrent: 100 000 pieces of 256 KiB (16 blocks), 50 peers each with a random half of the pieces.
//   piece cycle      – pickBlocks(16) for one peer, 16 × blockReceived, then pieceFailed so the
//                      state stays steady across iterations (verify would exhaust the torrent)
//   linear baseline  – the same choice (rarest piece the peer has, not started) by scanning all
//                      100 000 pieces, as a picker without the sorted order would
//   peer join+leave  – peerBitfield (50 000 HAVE bits) + removePeer: the cost of churn
//   HAVE             – one peerHave (one O(1) bucket move) on a random piece
//
// Run: node -e "import('vite').then((v) => v.runnerImport('./bench/micro/picker.bench.ts'))"
//
// Last result (Debian 12, 2 vCPU AMD EPYC, Node 20.20, machine shared with other jobs):
//   piece cycle (pick 16 + 16 received + reset)   ~8.8 µs/iter
//   linear baseline (one pick)                    ~1.1 ms/iter   (~120× slower)
//   peer join+leave (100 000-piece bitfield)      ~3.8 ms/iter
//   HAVE                                          ~90 ns/iter
// (figures are refreshed by hand; the table mitata prints is the source of truth)
import { bench, do_not_optimize, run, summary } from 'mitata'
import { PiecePicker } from '../../packages/engine/src/torrent/piece-picker.js'
import { seededRandom } from '../../packages/engine/src/interfaces/random.js'
import { Bitfield } from '../../packages/engine/src/util/bitfield.js'

const PIECES = 100_000
const PIECE_LENGTH = 256 * 1024
const PEERS = 50
const BLOCK = 16 * 1024

const rnd = seededRandom(1)
const bitfields = Array.from({ length: PEERS }, () => {
  const b = new Bitfield(PIECES)
  for (let i = 0; i < PIECES; i++) if (rnd.next() < 0.5) b.set(i)
  return b
})

function makePicker (): PiecePicker<number> {
  const picker = new PiecePicker<number>({ pieceCount: PIECES, pieceLengthBytes: PIECE_LENGTH, totalLengthBytes: PIECES * PIECE_LENGTH },
    { random: seededRandom(2) }, { randomFirstPieces: 0 })
  bitfields.forEach((b, peer) => { picker.peerBitfield(peer, b) })
  return picker
}

const picker = makePicker()
let turn = 0

/** A picker without the sorted order: scan everything for the rarest eligible piece. */
const availability = new Int32Array(PIECES)
for (const b of bitfields) for (let i = 0; i < PIECES; i++) if (b.get(i)) availability[i]!++
function linearPick (peer: Bitfield): number {
  let best = -1
  let bestAvail = Number.POSITIVE_INFINITY
  for (let i = 0; i < PIECES; i++) {
    if (!peer.get(i)) continue
    const a = availability[i]!
    if (a < bestAvail) { best = i; bestAvail = a }
  }
  return best
}

summary(() => {
  bench('piece cycle (pick 16 + 16 received + reset)', () => {
    const peer = turn++ % PEERS
    const blocks = picker.pickBlocks(peer, 16)
    for (const b of blocks) picker.blockReceived(peer, b.piece, b.begin, BLOCK)
    const piece = blocks[0]?.piece
    if (piece !== undefined) picker.pieceFailed(piece)
    do_not_optimize(blocks)
  })

  bench('linear baseline (one pick)', () => {
    do_not_optimize(linearPick(bitfields[turn++ % PEERS]!))
  })
})

bench('peer join+leave (100 000-piece bitfield)', () => {
  picker.peerBitfield(1000, bitfields[turn++ % PEERS]!)
  picker.removePeer(1000)
})

bench('HAVE', () => {
  const piece = (turn * 7919) % PIECES
  turn++
  if (!picker.peerHave(2000, piece)) {
    picker.removePeer(2000) // every piece announced: start over
    picker.peerHave(2000, piece)
  }
})

await run()
const invariants = picker.checkInvariants()
if (invariants !== null) throw new Error(`picker invariants broken: ${invariants}`)
