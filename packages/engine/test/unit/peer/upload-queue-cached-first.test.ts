/**
 * The upload queue reads a peer's queued requests for a piece the owner holds in memory first
 * (UploadQueueHost.cachedPieces), out of request order, which the protocol allows. Checked here:
 * which run is read first, that every block is still sent once with its own header, and that a
 * cancelled request of a cached piece is rejected, not read.
 */
import { describe, expect, it } from 'vitest'
import { defaultPeerSettings } from '../../../src/peer/peer-settings.js'
import { UploadQueue } from '../../../src/peer/upload-queue.js'
import type { BlockRequest } from '../../../src/protocol/wire-messages.js'

const BLOCK = 16_384

function setup (cached: number[]) {
  const reads: BlockRequest[] = []
  const sent: Array<{ piece: number, begin: number, length: number }> = []
  const rejected: number[] = []
  let header: Uint8Array | null = null
  const view = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset, b.length)
  const queue = new UploadQueue({
    settings: () => ({ ...defaultPeerSettings, maxUploadReadAheadBytes: 4 * BLOCK }),
    readBlock: async (request) => {
      reads.push(request)
      return new Uint8Array(request.length).fill(request.piece)
    },
    releaseBlock: undefined,
    cachedPieces: () => cached,
    bufferedBytes: () => 0,
    isActive: () => true,
    isWritable: () => true,
    fastExtension: () => true,
    send: (data) => {
      if (header === null && data[4] !== 7) {
        rejected.push(view(data).getUint32(5)) // REJECT of a cancelled request (BEP 6)
        return
      }
      if (header === null) {
        header = data
        return
      }
      const h = view(header)
      expect(h.getUint8(4)).toBe(7) // PIECE
      expect(data.every((b) => b === h.getUint32(5))).toBe(true)
      sent.push({ piece: h.getUint32(5), begin: h.getUint32(9), length: data.length })
      header = null
    },
    sentBlock: () => {},
    queued: () => {},
    warning: (error) => { throw error },
    close: (reason) => { throw reason }
  })
  return { queue, reads, sent, rejected }
}

async function settle (): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve()
}

describe('UploadQueue: cached pieces first', () => {
  it('reads the queued requests of a cached piece before older ones, and still sends every block once', async () => {
    const { queue, reads, sent } = setup([-1, 9, 5])
    queue.holdReads()
    for (const piece of [3, 4, 5, 6]) for (let b = 0; b < 4; b++) queue.request(piece, b * BLOCK, BLOCK, true)
    queue.releaseReads()
    await settle()
    // Piece 5 is cached and queued: its run goes first; piece 9 is cached but not asked for.
    expect(reads.map((r) => r.piece)).toEqual([5, 3, 4, 6])
    expect(reads[0]).toEqual({ piece: 5, begin: 0, length: 4 * BLOCK })
    expect(sent.map((s) => `${s.piece}/${s.begin / BLOCK}`)).toEqual([
      '5/0', '5/1', '5/2', '5/3', '3/0', '3/1', '3/2', '3/3', '4/0', '4/1', '4/2', '4/3', '6/0', '6/1', '6/2', '6/3'
    ])
    expect(queue.bytes).toBe(0)
  })

  it('keeps request order when the next request is for a cached piece already, or nothing queued is cached', async () => {
    const first = setup([3, 6])
    first.queue.holdReads()
    for (const piece of [3, 4, 6]) first.queue.request(piece, 0, BLOCK, true)
    first.queue.releaseReads()
    await settle()
    expect(first.reads.map((r) => r.piece)).toEqual([3, 6, 4])
    const none = setup([8])
    none.queue.holdReads()
    for (const piece of [3, 4, 6]) none.queue.request(piece, 0, BLOCK, true)
    none.queue.releaseReads()
    await settle()
    expect(none.reads.map((r) => r.piece)).toEqual([3, 4, 6])
  })

  it('rejects a cancelled request of a cached piece instead of reading it', async () => {
    const { queue, reads, sent, rejected } = setup([5])
    queue.holdReads()
    for (const piece of [3, 5]) for (let b = 0; b < 2; b++) queue.request(piece, b * BLOCK, BLOCK, true)
    queue.cancel(5, BLOCK, BLOCK)
    queue.releaseReads()
    await settle()
    expect(reads).toEqual([{ piece: 5, begin: 0, length: BLOCK }, { piece: 3, begin: 0, length: 2 * BLOCK }])
    expect(sent.map((s) => `${s.piece}/${s.begin / BLOCK}`)).toEqual(['5/0', '3/0', '3/1'])
    expect(rejected).toEqual([5])
  })
})
