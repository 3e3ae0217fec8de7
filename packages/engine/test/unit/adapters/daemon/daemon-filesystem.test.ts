import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { startIoDaemon } from '@lodestone/io-daemon'
import { BridgeFileWriter } from '../../../../adapters/daemon/bridge-file-writer.js'
import { MAX_FILE_WRITE_BYTES } from '../../../../adapters/daemon/bridge-protocol.js'
import { DaemonConnection, type BridgeWebSocketConstructor } from '../../../../adapters/daemon/daemon-connection.js'
import { DaemonFileSystem } from '../../../../adapters/daemon/daemon-filesystem.js'
import { DaemonSocketFactory } from '../../../../adapters/daemon/daemon-socket-factory.js'
import type { ReceivedPart } from '../../../../src/interfaces/filesystem.js'
import { runFileSystemContract } from '../../../contracts/filesystem.contract.js'

runFileSystemContract('DaemonFileSystem (io-daemon over HTTP)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'lodestone-daemon-fs-'))
  const daemon = await startIoDaemon({ roots: [{ label: 'test', dir }] })
  const fs = new DaemonFileSystem({ httpBase: `http://127.0.0.1:${daemon.port}`, authToken: daemon.token, rootKey: daemon.roots[0]!.key })
  return {
    fs,
    openHandleCount: () => fs.openHandles,
    cleanup: async () => { await daemon.close(); await rm(dir, { recursive: true, force: true }) }
  }
})

runFileSystemContract('DaemonFileSystem (io-daemon, writes over the bridge WebSocket)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'lodestone-daemon-fs-'))
  const daemon = await startIoDaemon({ roots: [{ label: 'test', dir }] })
  const conn = await DaemonConnection.connect({ port: daemon.port, authToken: daemon.token, WebSocket: WebSocket as unknown as BridgeWebSocketConstructor })
  const fs = new DaemonFileSystem({ httpBase: conn.httpBase, authToken: daemon.token, rootKey: daemon.roots[0]!.key, writer: new BridgeFileWriter(conn) })
  return {
    fs,
    openHandleCount: () => fs.openHandles,
    cleanup: async () => { conn.close(); await daemon.close(); await rm(dir, { recursive: true, force: true }) }
  }
})

/** 3 MiB from a plain TCP peer, received through a bridge socket of a fresh io-daemon (its hold optionally capped). */
async function receiveThroughDaemon (recvHoldBytes?: number): Promise<{
  dir: string, daemon: Awaited<ReturnType<typeof startIoDaemon>>, conn: DaemonConnection, sent: Uint8Array,
  socket: Awaited<ReturnType<DaemonSocketFactory['connectTcp']>>, chunks: Uint8Array[], fs: DaemonFileSystem, cleanup: () => Promise<void>
}> {
  const dir = await mkdtemp(join(tmpdir(), 'lodestone-daemon-fs-'))
  const daemon = await startIoDaemon({ roots: [{ label: 'test', dir }], ...(recvHoldBytes === undefined ? {} : { recvHoldBytes }) })
  const conn = await DaemonConnection.connect({ port: daemon.port, authToken: daemon.token, WebSocket: WebSocket as unknown as BridgeWebSocketConstructor })
  const sent = new Uint8Array(3 << 20)
  for (let i = 0; i < sent.length; i++) sent[i] = (i * 13 + (i >>> 9)) & 0xff
  const peer = createServer((s) => { s.end(sent) })
  await new Promise<void>((resolve) => { peer.listen(0, '127.0.0.1', resolve) })
  const cleanup = async (): Promise<void> => {
    peer.close()
    conn.close()
    await daemon.close()
    await rm(dir, { recursive: true, force: true })
  }
  try {
    const socket = await new DaemonSocketFactory(conn).connectTcp('127.0.0.1', (peer.address() as AddressInfo).port)
    const chunks: Uint8Array[] = []
    let got = 0
    await new Promise<void>((resolve) => {
      socket.onData((chunk) => { chunks.push(chunk); got += chunk.length; if (got === sent.length) resolve() })
    })
    const fs = new DaemonFileSystem({ httpBase: conn.httpBase, authToken: daemon.token, rootKey: daemon.roots[0]!.key, writer: new BridgeFileWriter(conn) })
    return { dir, daemon, conn, sent, socket, chunks, fs, cleanup }
  } catch (error) {
    await cleanup()
    throw error
  }
}

describe('DaemonFileSystem writes over the bridge WebSocket', () => {
  it('splits a write larger than a frame, lands every byte, and counts the frames in the daemon', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lodestone-daemon-fs-'))
    const daemon = await startIoDaemon({ roots: [{ label: 'test', dir }] })
    const conn = await DaemonConnection.connect({ port: daemon.port, authToken: daemon.token, WebSocket: WebSocket as unknown as BridgeWebSocketConstructor })
    try {
      // A window smaller than the write: the frames queue behind each other.
      const fs = new DaemonFileSystem({ httpBase: conn.httpBase, authToken: daemon.token, rootKey: daemon.roots[0]!.key, writer: new BridgeFileWriter(conn, { maxInflightBytes: 1 }) })
      const data = new Uint8Array(MAX_FILE_WRITE_BYTES * 2 + 1000)
      for (let i = 0; i < data.length; i++) data[i] = (i * 7 + (i >> 13)) & 0xff
      const h = await fs.open('big.bin', 'w')
      await h.write(data, 5)
      await h.close()
      const onDisk = await readFile(join(dir, 'big.bin'))
      expect(onDisk.length).toBe(data.length + 5)
      expect(Buffer.compare(onDisk.subarray(5), Buffer.from(data))).toBe(0)
      expect(daemon.fileStats()['write (WebSocket)']).toMatchObject({ requests: 3, bytes: data.length })
      expect(daemon.fileStats().write).toBeUndefined()
      // A handle the daemon does not know: STORAGE_IO naming the daemon's reason, the bridge stays up.
      const stale = await fs.open('other.bin', 'w')
      await stale.close()
      await expect(stale.write(new Uint8Array(4), 0)).rejects.toMatchObject({ code: 'STORAGE_IO' })
      const writer = new BridgeFileWriter(conn)
      await expect(writer.write(999_999, 0, new Uint8Array(4), 'x')).rejects.toMatchObject({ code: 'STORAGE_IO', details: { reason: expect.stringContaining('HANDLE_UNKNOWN') } })
      expect(conn.closed).toBe(false)
    } finally {
      conn.close()
      await daemon.close()
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('writeWithReceived: received parts from the daemon\'s copy, gaps as bytes; foreign, reallocated or dropped ranges as bytes', async () => {
    const { dir, daemon, conn, sent, socket, chunks, fs, cleanup } = await receiveThroughDaemon()
    try {
      expect(chunks.length).toBeGreaterThan(1)
      // Views inside delivered chunks name their stream offset; a copy does not.
      const first = chunks[0]!
      expect(socket.receivedRange(first.subarray(10, 30))).toEqual({ stream: socket, offset: 10, lengthBytes: 20 })
      expect(socket.receivedRange(first.slice(10, 30))).toBeUndefined()
      const second = chunks[1]!
      expect(socket.receivedRange(second.subarray(0, 5))?.offset).toBe(first.length)

      const h = await fs.open('out.bin', 'w')
      // 60 000 stream bytes around the first frame boundary L: [L-40000, L-20000) and [L-11000, L+20000)
      // (two frames, one run) named as received, a foreign stream's part as bytes, the rest as bytes.
      const L = first.length
      expect(L).toBeGreaterThan(40_000)
      expect(second.length).toBeGreaterThanOrEqual(20_000)
      const buffer = sent.slice(L - 40_000, L + 20_000)
      const parts: ReceivedPart[] = [
        { at: 0, range: socket.receivedRange(first.subarray(L - 40_000, L - 20_000))! },
        { at: 25_000, range: { stream: {}, offset: L - 15_000, lengthBytes: 1000 } },
        { at: 29_000, range: socket.receivedRange(first.subarray(L - 11_000))! },
        { at: 40_000, range: socket.receivedRange(second.subarray(0, 20_000))! }
      ]
      await h.writeWithReceived!(buffer, 7, parts)
      let onDisk = await readFile(join(dir, 'out.bin'))
      expect(Buffer.compare(onDisk.subarray(7), Buffer.from(buffer))).toBe(0)
      const received = daemon.fileStats()['write (received)']!
      expect(received).toMatchObject({ requests: 2, bytes: 20_000 + 31_000 })
      expect(daemon.fileStats()['write (WebSocket)']?.bytes).toBe(buffer.length - 51_000)

      // The socket closes and its id is handed out again: its ranges must not name the new stream.
      socket.close()
      await new Promise((resolve) => setTimeout(resolve, 20))
      let reused = false
      for (let i = 0; i < 0x1_0000 && !reused; i++) reused = conn.allocateId() === socket.id
      expect(reused).toBe(true)
      expect(socket.streamIdOn(conn)).toBeUndefined()
      const again = sent.slice(100, 200)
      await h.writeWithReceived!(again, 0, [{ at: 0, range: socket.receivedRange(first.subarray(100, 200))! }])
      expect(daemon.fileStats()['write (received)']?.requests).toBe(2)
      onDisk = await readFile(join(dir, 'out.bin'))
      expect(Buffer.compare(onDisk.subarray(0, 100), Buffer.from(again))).toBe(0)
      await h.close()
    } finally {
      await cleanup()
    }
  })

  it('writeWithReceived falls back to bytes when the daemon no longer holds a range (RECV_NOT_HELD)', async () => {
    const { dir, daemon, sent, socket, chunks, fs, cleanup } = await receiveThroughDaemon(600 * 1024)
    try {
      const h = await fs.open('old.bin', 'w')
      const head = chunks[0]!.subarray(0, 4096)
      await h.writeWithReceived!(head.slice(), 0, [{ at: 0, range: socket.receivedRange(head)! }])
      expect(daemon.fileStats()['write received: not held']?.requests).toBe(1)
      expect(Buffer.compare(await readFile(join(dir, 'old.bin')), Buffer.from(sent.subarray(0, 4096)))).toBe(0)
      await h.close()
    } finally {
      await cleanup()
    }
  })
})
