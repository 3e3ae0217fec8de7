import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { startIoDaemon } from '@lodestone/io-daemon'
import { BridgeFileWriter } from '../../../../adapters/daemon/bridge-file-writer.js'
import { MAX_FILE_WRITE_BYTES } from '../../../../adapters/daemon/bridge-protocol.js'
import { DaemonConnection, type BridgeWebSocketConstructor } from '../../../../adapters/daemon/daemon-connection.js'
import { DaemonFileSystem } from '../../../../adapters/daemon/daemon-filesystem.js'
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
})
