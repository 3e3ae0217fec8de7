/**
 * `lodestone seed` (the built CLI) stops promptly on SIGTERM, issue 15: with nothing pending it
 * must exit well under a second — also when a connected peer does not read (so our FIN cannot be
 * flushed and its side is never closed) and when a connection sits silent in its handshake.
 * Before the fix such a peer kept the process alive until the sockets' 5 s linger timers or the
 * CLI's 5 s exit fallback fired.
 */
import { join } from 'node:path'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { makeTorrent, removeTempDirs, tempDir, writeContent } from '../helpers/fixtures.js'
import { HostileConnection, MSG, handshake, message, requestBurst } from './hostile-peer.js'
import { startLodestoneSeed, type LodestoneProcess } from './lodestone-process.js'

const procs: LodestoneProcess[] = []
const conns: HostileConnection[] = []
afterEach(async () => {
  for (const c of conns.splice(0)) c.close()
  await Promise.all(procs.splice(0).map(async (p) => { await p.stop() }))
})
afterAll(async () => { await removeTempDirs() })

const PAYLOAD_BYTES = 2 * 1024 * 1024
const PIECE_BYTES = 32_768

async function seed (): Promise<LodestoneProcess> {
  const dir = await tempDir()
  await writeContent(dir, 'payload.bin', PAYLOAD_BYTES)
  const torrentPath = join(await tempDir(), 'payload.torrent')
  await makeTorrent(dir, 'payload.bin', 'v1', torrentPath, PIECE_BYTES)
  const proc = await startLodestoneSeed({ torrentPath, dir })
  procs.push(proc)
  return proc
}

describe('lodestone seed stops on SIGTERM', () => {
  it('idle: exits 0 well under a second', async () => {
    const proc = await seed()
    const { exitMs, code } = await proc.stop()
    console.log(`SIGTERM -> exit, idle: ${exitMs.toFixed(0)} ms`)
    expect(code).toBe(0)
    expect(exitMs).toBeLessThan(1_000)
  })

  it('with a connected peer that does not read and a silent half-open connection: exits 0 well under a second', async () => {
    const proc = await seed()
    const stuck = await HostileConnection.open(proc.port, { neverRead: true })
    conns.push(stuck)
    // Handshake, then ask for everything: the replies fill the kernel's buffers, as the peer never reads.
    await stuck.write(Buffer.concat([handshake(Buffer.from(proc.infoHash, 'hex')), message(MSG.interested),
      requestBurst(2_000, PAYLOAD_BYTES / PIECE_BYTES, PIECE_BYTES)]))
    const silent = await HostileConnection.open(proc.port)
    conns.push(silent)
    await proc.waitForEvent((e) => e.type === 'peer-connected', 10_000, 'the peer to connect')
    await new Promise((resolve) => setTimeout(resolve, 500))
    const { exitMs, code } = await proc.stop()
    console.log(`SIGTERM -> exit, stuck peer + half-open: ${exitMs.toFixed(0)} ms`)
    expect(code).toBe(0)
    expect(exitMs).toBeLessThan(1_000)
  })
})
