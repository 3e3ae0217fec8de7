/**
 * aria2 1.36 (Debian `aria2`) downloads from a Lodestone seeder over TCP on 127.0.0.1 (issue 16).
 * aria2 opens every connection with the MSE/PE (obfuscation) handshake and retries in plaintext
 * only when that fails. With Lodestone's default `encryption.mode: 'prefer'` its first dial must
 * be answered: nothing refused, no plaintext connection. With 'disable' (what Lodestone did before
 * MSE) the same run shows the refused encrypted opening, so the test can tell the two apart.
 * Also `--bt-require-crypto --bt-min-crypto-level=arc4` (aria2's forced encryption) against a
 * Lodestone seeder requiring encryption: RC4 on our side.
 *
 * aria2 learns of the seeder from a stub HTTP tracker in this process that answers every announce
 * with the seeder's address alone (the seeder itself announces nowhere), so aria2 is the only dialler.
 */
import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import { join } from 'node:path'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { createNodeEngine } from '../../packages/engine/presets/node.js'
import type { BtEngine } from '../../packages/engine/src/session/bt-engine.js'
import type { PeerInfo } from '../../packages/engine/src/torrent/torrent.js'
import { SINGLE_FILE_BYTES, digestTree, makeTorrent, removeTempDirs, tempDir, waitCompleted, writeContent } from '../helpers/fixtures.js'

const ARIA2C = '/usr/bin/aria2c'

const engines: BtEngine[] = []
const servers: Server[] = []
afterEach(async () => {
  await Promise.all(engines.splice(0).map(async (e) => { await e.close() }))
  await Promise.all(servers.splice(0).map(async (s) => { await new Promise((resolve) => { s.close(resolve) }) }))
})
afterAll(async () => { await removeTempDirs() })

/** An HTTP tracker that answers any announce with one peer, 127.0.0.1:`port` (compact form). */
async function stubTracker (port: number): Promise<string> {
  const peer = Buffer.from([127, 0, 0, 1, port >> 8, port & 0xff])
  const body = Buffer.concat([Buffer.from('d8:intervali60e5:peers6:'), peer, Buffer.from('e')])
  const server = createServer((_req, res) => { res.end(body) })
  servers.push(server)
  await new Promise<void>((resolve) => { server.listen(0, '127.0.0.1', resolve) })
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('tracker did not bind')
  return `http://127.0.0.1:${address.port}/announce`
}

/** Runs aria2c confined to loopback (INTEROP-NOTES.md); resolves with its exit code and output. */
async function runAria2 (args: string[], timeoutMs: number): Promise<{ code: number, output: string }> {
  return new Promise((resolve, reject) => {
    execFile(ARIA2C, ['--no-conf', '--enable-dht=false', '--enable-dht6=false', '--bt-enable-lpd=false',
      '--enable-peer-exchange=false', '--interface=127.0.0.1', '--seed-time=0', '--file-allocation=none',
      '--summary-interval=0', '--console-log-level=warn', ...args], { timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err !== null && typeof err.code !== 'number') {
        reject(new Error(`aria2c did not run (${String(err.code ?? err.signal)}): ${err.message}`))
        return
      }
      resolve({ code: err === null ? 0 : Number(err.code), output: `${stdout}\n${stderr}` })
    })
  })
}

async function seedAndServe (mode: 'prefer' | 'disable' | 'require', aria2Args: string[]): Promise<{ engine: BtEngine, connected: PeerInfo[], uploaded: number, same: boolean, totalBytes: number }> {
  const seedDir = await tempDir()
  await writeContent(seedDir, 'payload.bin', SINGLE_FILE_BYTES)
  const torrentPath = join(await tempDir(), 'test.torrent')
  const created = await makeTorrent(seedDir, 'payload.bin', 'v1', torrentPath)
  const engine = createNodeEngine({ downloadPath: seedDir, port: 0, host: '127.0.0.1', hasherWorkers: 1, logLevel: 'off', settings: { encryption: { mode } } })
  engines.push(engine)
  const torrent = await engine.addTorrent(await readFile(torrentPath), { downloadPath: seedDir })
  await waitCompleted(torrent, 20_000)
  const connected: PeerInfo[] = []
  torrent.on('peer-connected', ({ peer }) => { connected.push(peer) })
  const tracker = await stubTracker((await engine.listen())!)
  const leechDir = await tempDir()
  const run = await runAria2([`--dir=${leechDir}`, `--bt-tracker=${tracker}`, ...aria2Args, torrentPath], 60_000)
  expect(run.code, run.output).toBe(0)
  const same = JSON.stringify(await digestTree(join(leechDir, 'payload.bin'))) === JSON.stringify(await digestTree(join(seedDir, 'payload.bin')))
  return { engine, connected, uploaded: torrent.stats().uploadedBytes, same, totalBytes: created.totalLengthBytes }
}

describe('MSE/PE with aria2 1.36 (TCP, loopback)', () => {
  it('aria2\'s first (encrypted) dial to a Lodestone seeder is answered under prefer; disable refuses it first', async () => {
    const prefer = await seedAndServe('prefer', [])
    expect(prefer.same).toBe(true)
    expect(prefer.uploaded).toBeGreaterThanOrEqual(prefer.totalBytes)
    const p = prefer.engine.stats().encryption
    expect(p.failures).toEqual({})
    expect(p.incomingUnencrypted).toBe(0)
    expect(p.incomingRc4 + p.incomingPlaintext).toBeGreaterThanOrEqual(1)
    expect(prefer.connected.length).toBeGreaterThanOrEqual(1)
    for (const peer of prefer.connected) expect(peer.encryption).not.toBe('none')
    expect(prefer.connected[0]?.clientName).toMatch(/aria2/)

    const disable = await seedAndServe('disable', [])
    expect(disable.same).toBe(true)
    const d = disable.engine.stats().encryption
    expect(d.failures['encrypted-refused']).toBeGreaterThanOrEqual(1)
    expect(d.incomingUnencrypted).toBeGreaterThanOrEqual(1)
  })

  it('aria2 forcing RC4 (--bt-require-crypto, arc4) downloads from a Lodestone seeder requiring encryption', async () => {
    const r = await seedAndServe('require', ['--bt-require-crypto=true', '--bt-min-crypto-level=arc4'])
    expect(r.same).toBe(true)
    expect(r.connected.map((p) => p.encryption)).toContain('rc4')
    for (const peer of r.connected) expect(peer.encryption).toBe('rc4')
    expect(r.engine.stats().encryption.incomingRc4).toBeGreaterThanOrEqual(1)
  })
})
