// FILE_WRITE_RECV (issue 17): the client has the daemon write bytes it received on a TCP socket,
// named by socket id and offset in that socket's received stream, instead of sending them back.
// Through a real daemon: the feature is announced in SERVER_HELLO, ranges across TCP_RECV frames
// land byte-identical at their file offsets, and bad requests (unknown socket, range not held,
// bad counts and lengths, an unknown handle) get a typed error answer with nothing written while
// the session goes on; a frame whose lengths do not add up closes only that session.
import { createHash } from 'node:crypto'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import {
  Feature, Op, RECV_HASH_MISMATCH, RECV_NOT_HELD, RECV_RANGE_INVALID, authFrame, encodeFrame, fileWriteRecvFrame, readFileWriteResult, readServerHello,
  tcpAckFrame, tcpConnectFrame, type RecvSegment
} from '@lodestone/engine/adapters/daemon'
import { startIoDaemon, type IoDaemon } from '../src/index.js'

/** What the peer sends: a pattern, so any misplaced byte shows. */
const PEER_BYTES = 3 * 1024 * 1024 + 12_345
const pattern = Uint8Array.from({ length: PEER_BYTES }, (_, i) => (i * 7 + (i >>> 11)) & 0xff)

let base: string
let peer: Server
const peers: Socket[] = []

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'lodestone-write-recv-'))
  peer = createServer((s) => { peers.push(s); s.end(pattern) })
  await new Promise<void>((resolve) => { peer.listen(0, '127.0.0.1', resolve) })
})

afterAll(async () => {
  for (const s of peers) s.destroy()
  peer.close()
  await rm(base, { recursive: true, force: true })
})

async function http (daemon: IoDaemon, path: string): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: daemon.port, method: 'POST', path, headers: { Authorization: `Bearer ${daemon.token}` } }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => { resolve(Buffer.concat(chunks).toString()) })
    })
    req.on('error', reject)
    req.end()
  })
}

/** An authenticated session that has dialled the peer (socket id 1) and received all it sent. */
async function sessionWithReceived (daemon: IoDaemon): Promise<{
  ws: WebSocket
  features: number
  /** Payload lengths of the TCP_RECV frames, in order. */
  frames: number[]
  ask: (frame: Uint8Array) => Promise<Buffer>
  closed: Promise<number>
}> {
  const ws = new WebSocket(`ws://127.0.0.1:${daemon.port}/io`)
  await new Promise<void>((resolve, reject) => { ws.once('open', () => { resolve() }); ws.once('error', reject) })
  const waiting = new Map<number, (b: Buffer) => void>()
  const frames: number[] = []
  let received = 0
  let features = -1
  let allIn: () => void = () => {}
  const done = new Promise<void>((resolve) => { allIn = resolve })
  const closed = new Promise<number>((resolve) => { ws.once('close', (code) => { resolve(code) }) })
  ws.on('message', (d: Buffer) => {
    const op = d[1]
    if (op === Op.SERVER_HELLO) { features = readServerHello(d.subarray(8)); return }
    if (op === Op.TCP_RECV) {
      const n = d.length - 12
      frames.push(n)
      received += n
      ws.send(tcpAckFrame(Op.TCP_RECV_ACK, 1, n))
      if (received === PEER_BYTES) allIn()
      return
    }
    waiting.get(d.readUInt32LE(4))?.(d)
  })
  const authed = new Promise<void>((resolve) => { waiting.set(0, () => { resolve() }) })
  ws.send(encodeFrame(Op.CLIENT_HELLO, 0, 0))
  ws.send(authFrame(daemon.token))
  await authed
  waiting.delete(0)
  ws.send(tcpConnectFrame(9, 1, '127.0.0.1', (peer.address() as AddressInfo).port))
  await done
  const ask = async (frame: Uint8Array): Promise<Buffer> => new Promise<Buffer>((resolve) => {
    waiting.set(new DataView(frame.buffer, frame.byteOffset, frame.byteLength).getUint32(4, true), resolve)
    ws.send(frame)
  })
  return { ws, features, frames, ask, closed }
}

async function openHandle (daemon: IoDaemon, path: string): Promise<number> {
  const key = daemon.roots[0]!.key
  const body = await http(daemon, `/fs/open/${key}?${new URLSearchParams({ path, mode: 'w' }).toString()}`)
  return (JSON.parse(body) as { handle: number }).handle
}

describe('io-daemon FILE_WRITE_RECV', () => {
  it('is announced in SERVER_HELLO and writes received ranges (across TCP_RECV frames) byte-identical at their offsets', async () => {
    const root = await mkdtemp(join(base, 'a-'))
    const daemon = await startIoDaemon({ roots: [{ label: 'dl', dir: root }] })
    try {
      const s = await sessionWithReceived(daemon)
      expect(s.features & Feature.WRITE_RECV).toBe(Feature.WRITE_RECV)
      expect(s.frames.length).toBeGreaterThan(1)
      const handle = await openHandle(daemon, 'out.bin')
      // One range straddling the first frame boundary, then two more segments written back to back.
      const edge = s.frames[0]!
      const segments: RecvSegment[] = [
        { id: 1, offset: edge - 1000, length: 3000 },
        { id: 1, offset: 17, length: 5 },
        { id: 1, offset: PEER_BYTES - 40_000, length: 40_000 }
      ]
      const answer = readFileWriteResult((await s.ask(fileWriteRecvFrame(11, handle, 1_000_000, segments))).subarray(8))
      expect(answer).toEqual({ written: 43_005 })
      const file = await readFile(join(root, 'out.bin'))
      expect(file.length).toBe(1_000_000 + 43_005)
      const expected = Buffer.concat([pattern.subarray(edge - 1000, edge + 2000), pattern.subarray(17, 22), pattern.subarray(PEER_BYTES - 40_000)])
      expect(file.subarray(1_000_000).equals(expected)).toBe(true)
      expect(daemon.fileStats()['write (received)']).toMatchObject({ requests: 1, bytes: 43_005 })
      s.ws.close()
    } finally {
      await daemon.close()
    }
  })

  it('answers bad requests with typed errors and writes nothing; the session goes on; a malformed frame closes only its session', async () => {
    const root = await mkdtemp(join(base, 'b-'))
    const daemon = await startIoDaemon({ roots: [{ label: 'dl', dir: root }] })
    try {
      const s = await sessionWithReceived(daemon)
      const handle = await openHandle(daemon, 'bad.bin')
      const errorOf = async (rid: number, segments: RecvSegment[], h = handle): Promise<string | undefined> =>
        readFileWriteResult((await s.ask(fileWriteRecvFrame(rid, h, 0, segments))).subarray(8)).error?.code
      expect(await errorOf(20, [{ id: 77, offset: 0, length: 10 }])).toBe(RECV_NOT_HELD) // unknown socket
      expect(await errorOf(21, [{ id: 1, offset: PEER_BYTES - 5, length: 10 }])).toBe(RECV_NOT_HELD) // past what arrived
      expect(await errorOf(22, [{ id: 1, offset: 0, length: 10 }, { id: 1, offset: PEER_BYTES, length: 1 }])).toBe(RECV_NOT_HELD) // second segment
      expect(await errorOf(23, [])).toBe(RECV_RANGE_INVALID)
      expect(await errorOf(24, [{ id: 1, offset: 0, length: 0 }])).toBe(RECV_RANGE_INVALID)
      expect(await errorOf(25, Array.from({ length: 4097 }, () => ({ id: 1, offset: 0, length: 1 })))).toBe(RECV_RANGE_INVALID)
      expect(await errorOf(26, [{ id: 1, offset: 0, length: 0xffff_ffff }])).toBe(RECV_RANGE_INVALID)
      expect(await errorOf(27, [{ id: 1, offset: 0, length: 10 }], handle + 1000)).toBe('HANDLE_UNKNOWN')
      expect((await readFile(join(root, 'bad.bin'))).length).toBe(0)
      expect(daemon.fileStats()['write received: not held']?.requests).toBe(3)
      // Still serving: a good write after all that.
      expect(readFileWriteResult((await s.ask(fileWriteRecvFrame(28, handle, 0, [{ id: 1, offset: 100, length: 50 }]))).subarray(8))).toEqual({ written: 50 })
      expect((await readFile(join(root, 'bad.bin'))).equals(Buffer.from(pattern.subarray(100, 150)))).toBe(true)

      // A count that does not match the payload: a protocol violation, ERROR then close (1002).
      const good = fileWriteRecvFrame(29, handle, 0, [{ id: 1, offset: 0, length: 10 }, { id: 1, offset: 10, length: 10 }])
      const errors: Buffer[] = []
      s.ws.on('message', (d: Buffer) => { if (d[1] === Op.ERROR) errors.push(d) })
      s.ws.send(good.subarray(0, good.length - 16))
      expect(await s.closed).toBe(1002)
      expect(errors.length).toBe(1)
      // The daemon lives on: a new session receives and writes.
      const again = await sessionWithReceived(daemon)
      expect(readFileWriteResult((await again.ask(fileWriteRecvFrame(30, handle, 0, [{ id: 1, offset: 0, length: 8 }]))).subarray(8))).toEqual({ written: 8 })
      again.ws.close()
    } finally {
      await daemon.close()
    }
  })

  it('with a SHA-1 writes only bytes that have it: a mismatch is a typed error with nothing written, and the session goes on', async () => {
    const root = await mkdtemp(join(base, 'h-'))
    const daemon = await startIoDaemon({ roots: [{ label: 'dl', dir: root }] })
    try {
      const s = await sessionWithReceived(daemon)
      expect(s.features & Feature.WRITE_RECV_SHA1).toBe(Feature.WRITE_RECV_SHA1)
      const handle = await openHandle(daemon, 'piece.bin')
      // A "piece" across the first frame boundary, in two segments.
      const edge = s.frames[0]!
      const segments: RecvSegment[] = [{ id: 1, offset: edge - 70_000, length: 50_000 }, { id: 1, offset: edge - 20_000, length: 81_072 }]
      const bytes = pattern.subarray(edge - 70_000, edge + 61_072)
      const right = createHash('sha1').update(bytes).digest()
      const wrong = Buffer.from(right)
      wrong[19]! ^= 1
      const write = async (rid: number, sha1: Uint8Array): Promise<ReturnType<typeof readFileWriteResult>> =>
        readFileWriteResult((await s.ask(fileWriteRecvFrame(rid, handle, 0, segments, sha1))).subarray(8))
      expect((await write(40, wrong)).error?.code).toBe(RECV_HASH_MISMATCH)
      expect((await readFile(join(root, 'piece.bin'))).length).toBe(0)
      expect(daemon.fileStats()['write received: hash mismatch']?.requests).toBe(1)
      expect(await write(41, right)).toEqual({ written: 131_072 })
      expect((await readFile(join(root, 'piece.bin'))).equals(Buffer.from(bytes))).toBe(true)
      // The flag without room for the digest: a protocol violation, this session only.
      const flagged = fileWriteRecvFrame(42, handle, 0, segments, right)
      s.ws.send(flagged.subarray(0, flagged.length - 1))
      expect(await s.closed).toBe(1002)
      expect(() => fileWriteRecvFrame(43, handle, 0, segments, right.subarray(0, 19))).toThrow(/20 bytes/)
    } finally {
      await daemon.close()
    }
  })

  it('keeps at most recvHoldBytes (oldest dropped: RECV_NOT_HELD, so the client sends the bytes); 0 turns the feature off', async () => {
    const root = await mkdtemp(join(base, 'c-'))
    const daemon = await startIoDaemon({ roots: [{ label: 'dl', dir: root }], recvHoldBytes: 1024 * 1024 + 64 })
    const off = await startIoDaemon({ roots: [{ label: 'dl', dir: root }], recvHoldBytes: 0 })
    try {
      const s = await sessionWithReceived(daemon)
      const handle = await openHandle(daemon, 'cap.bin')
      const ask = async (rid: number, offset: number): Promise<unknown> =>
        readFileWriteResult((await s.ask(fileWriteRecvFrame(rid, handle, 0, [{ id: 1, offset, length: 100 }]))).subarray(8))
      expect(((await ask(40, 0)) as { error?: { code: string } }).error?.code).toBe(RECV_NOT_HELD)
      expect(await ask(41, PEER_BYTES - 100)).toEqual({ written: 100 })
      s.ws.close()
      const t = await sessionWithReceived(off)
      expect(t.features & Feature.WRITE_RECV).toBe(0)
      t.ws.close()
    } finally {
      await daemon.close()
      await off.close()
    }
  })
})
