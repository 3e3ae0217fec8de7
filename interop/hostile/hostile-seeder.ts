/**
 * Scripted hostile peers that `lodestone download` dials: each listens on its own loopback address
 * (127.0.0.x, so a ban of one host bans that liar only), answers the handshake for the torrent, and
 * then lies in one way, counting what it did and what it was asked:
 *
 * - `metadata-wrong-size`: announces a metadata_size one piece too big and serves random bytes of it;
 * - `metadata-garbage`: the right metadata_size, random bytes (pieces that do not hash to the info hash);
 * - `metadata-other-torrent`: serves a real info dict — of another torrent;
 * - `metadata-rejects`: announces the right size and rejects every request, for ever;
 * - `bad-data`: claims every piece (HAVE ALL), unchokes, answers every REQUEST with random bytes;
 * - `never-serves`: claims every piece, unchokes, and never answers a REQUEST.
 *
 * The metadata liars have no pieces (HAVE NONE). Like hostile-peer.ts, the wire format is built
 * here from BEP 3 / 6 / 9 / 10, independent of the engine's codecs.
 */
import { randomBytes } from 'node:crypto'
import { createServer, type Server, type Socket } from 'node:net'
import { MSG, bencode, extended, handshake, message, u32s } from './hostile-peer.js'

export type HostileBehavior = 'metadata-wrong-size' | 'metadata-garbage' | 'metadata-other-torrent' | 'metadata-rejects' | 'bad-data' | 'never-serves'

export interface HostileSeederOptions {
  behavior: HostileBehavior
  /** 127.0.0.x to listen on. */
  host: string
  infoHash: Uint8Array
  /** The torrent's real info dict (for its size). */
  infoBytes: Uint8Array
  /** Another torrent's info dict (`metadata-other-torrent`). */
  otherInfoBytes?: Uint8Array
}

/** Our ut_metadata id in the m dict we send. */
const OUR_UT_METADATA = 3
const METADATA_PIECE_BYTES = 16_384

export class HostileSeeder {
  port = 0
  /** Connections Lodestone opened to us. */
  accepted = 0
  /** Of those, closed by Lodestone (not by us). */
  closedByLodestone = 0
  /** ut_metadata requests received, lies (data messages) and rejects sent. */
  metadataRequests = 0
  liesSent = 0
  rejectsSent = 0
  /** Block REQUESTs received, and blocks of random bytes sent for them. */
  blockRequests = 0
  badBlocksSent = 0
  /** performance.now() of every accept, to see whether a banned host is dialled again. */
  readonly acceptTimes: number[] = []
  private readonly server: Server
  private readonly sockets = new Set<Socket>()

  constructor (private readonly options: HostileSeederOptions) {
    this.server = createServer((socket) => { this.onConnection(socket) })
  }

  async listen (): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject)
      this.server.listen(0, this.options.host, () => { resolve() })
    })
    const address = this.server.address()
    if (address === null || typeof address === 'string') throw new Error('no port')
    this.port = address.port
  }

  get address (): string { return `${this.options.host}:${this.port}` }

  /** The metadata_size this liar announces. */
  private get claimedSize (): number {
    const real = this.options.infoBytes.length
    if (this.options.behavior === 'metadata-wrong-size') return real + METADATA_PIECE_BYTES + 100
    if (this.options.behavior === 'metadata-other-torrent') return this.options.otherInfoBytes?.length ?? real
    return real
  }

  private get liesAboutMetadata (): boolean { return this.options.behavior.startsWith('metadata-') }

  private onConnection (socket: Socket): void {
    this.accepted++
    this.acceptTimes.push(performance.now())
    this.sockets.add(socket)
    socket.setNoDelay(true)
    let closedByUs = false
    socket.on('error', () => {})
    socket.once('close', () => {
      this.sockets.delete(socket)
      if (!closedByUs) this.closedByLodestone++
    })
    let buffered = Buffer.alloc(0)
    let handshaken = false
    let theirUtMetadata: number | null = null
    const send = (data: Uint8Array): void => { if (!socket.destroyed) socket.write(data) }
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk])
      if (!handshaken) {
        if (buffered.length < 68) return
        if (!buffered.subarray(28, 48).equals(Buffer.from(this.options.infoHash))) {
          closedByUs = true
          socket.destroy()
          return
        }
        handshaken = true
        buffered = buffered.subarray(68)
        send(handshake(this.options.infoHash, { fast: true, extensions: true }))
        const m = this.liesAboutMetadata ? { ut_metadata: OUR_UT_METADATA } : {}
        send(extended(0, bencode(this.liesAboutMetadata ? { m, metadata_size: this.claimedSize } : { m })))
        if (this.liesAboutMetadata) send(message(MSG.haveNone))
        else {
          send(message(MSG.haveAll))
          send(message(MSG.unchoke))
        }
      }
      while (buffered.length >= 4) {
        const length = buffered.readUInt32BE(0)
        if (length > 1_100_000) { closedByUs = true; socket.destroy(); return }
        if (buffered.length < 4 + length) return
        const body = buffered.subarray(4, 4 + length)
        buffered = buffered.subarray(4 + length)
        if (length === 0) continue
        const id = body[0]
        if (id === MSG.request && body.length === 13) {
          this.blockRequests++
          if (this.options.behavior === 'bad-data') {
            const piece = body.readUInt32BE(1)
            const begin = body.readUInt32BE(5)
            const len = Math.min(body.readUInt32BE(9), 16_384)
            send(message(MSG.piece, Buffer.concat([u32s(piece, begin), randomBytes(len)])))
            this.badBlocksSent++
          }
        } else if (id === MSG.extended && body.length >= 2) {
          const extId = body[1]
          const payload = body.subarray(2)
          if (extId === 0) {
            const m = /11:ut_metadatai(\d+)e/.exec(payload.toString('latin1'))
            if (m !== null) theirUtMetadata = Number(m[1])
          } else if (extId === OUR_UT_METADATA && theirUtMetadata !== null) {
            const text = payload.toString('latin1')
            const type = Number(/8:msg_typei(\d+)e/.exec(text)?.[1] ?? -1)
            const piece = Number(/5:piecei(\d+)e/.exec(text)?.[1] ?? -1)
            if (type !== 0 || piece < 0) continue
            this.metadataRequests++
            send(this.answerMetadata(theirUtMetadata, piece))
          }
        }
      }
    })
  }

  private answerMetadata (theirId: number, piece: number): Buffer {
    const size = this.claimedSize
    const start = piece * METADATA_PIECE_BYTES
    if (this.options.behavior === 'metadata-rejects' || start >= size) {
      this.rejectsSent++
      return extended(theirId, bencode({ msg_type: 2, piece }))
    }
    const length = Math.min(METADATA_PIECE_BYTES, size - start)
    const data = this.options.behavior === 'metadata-other-torrent' && this.options.otherInfoBytes !== undefined
      ? this.options.otherInfoBytes.subarray(start, start + length)
      : randomBytes(length)
    this.liesSent++
    return extended(theirId, Buffer.concat([bencode({ msg_type: 1, piece, total_size: size }), data]))
  }

  async close (): Promise<void> {
    for (const s of this.sockets) s.destroy()
    await new Promise<void>((resolve) => { this.server.close(() => { resolve() }) })
  }
}
