/**
 * Transmission's own web client (Debian's transmission-common, /usr/share/transmission/web), served
 * by `lodestone daemon` under /transmission/web/ against our RPC, lists and controls Lodestone's
 * torrents in headless Debian Chromium (issue 14): both torrents appear with their names, the
 * completed one as seeding; its toolbar pause and start buttons stop and start it (checked over
 * RPC). A screenshot is saved as a test artifact (.reports/daemon-transmission-web.png).
 */
import { mkdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { launchBrowser, type TestBrowser } from '../../packages/engine/test/browser/harness.js'
import { removeTempDirs, tempDir } from '../helpers/fixtures.js'
import { startLibtorrentPeer, type LibtorrentPeer } from '../helpers/libtorrent-peer.js'
import { makeContent } from '../helpers/libtorrent-swarm-peer.js'
import { pollFor, rpcCall, startDaemon, type RunningDaemon } from './daemon-harness.js'

const MiB = 1024 * 1024
const SCREENSHOT = join(process.cwd(), '.reports', 'daemon-transmission-web.png')
const daemons: RunningDaemon[] = []
const peers: LibtorrentPeer[] = []
let browser: TestBrowser | null = null
afterEach(async () => {
  await browser?.close()
  browser = null
  await Promise.all(peers.splice(0).map(async (p) => { await p.close() }))
  await Promise.all(daemons.splice(0).map(async (d) => { await d.stop() }))
})
afterAll(async () => { await removeTempDirs() })

describe('Transmission\'s web client against lodestone daemon', () => {
  it('lists the torrents and pauses / starts one in headless Chromium', async () => {
    const base = await tempDir('lodestone-daemon-web-')
    const seed = join(base, 'seed')
    const downloads = join(base, 'downloads')
    await mkdir(seed, { recursive: true })
    const a = await makeContent(seed, 4 * MiB)
    const daemon = await startDaemon(base, { downloadDir: downloads, stateDir: join(base, 'state'), webClientDir: '/usr/share/transmission/web' })
    daemons.push(daemon)
    const port = daemon.rpcPort
    expect((await rpcCall(port, 'torrent-add', { metainfo: (await readFile(a.torrentPath)).toString('base64') })).result).toBe('success')
    expect((await rpcCall(port, 'torrent-add', { filename: 'magnet:?xt=urn:btih:' + 'ab'.repeat(20) + '&dn=waiting-for-metadata', paused: true })).result).toBe('success')
    const seeder = await startLibtorrentPeer({ torrentPath: a.torrentPath, savePath: seed, mode: 'seed', peers: [{ host: '127.0.0.1', port: daemon.peerPort }] })
    peers.push(seeder)
    const status = async (): Promise<number> => (await rpcCall(port, 'torrent-get', { ids: [1], fields: ['status', 'percentDone'] })).arguments.torrents[0].status as number
    await pollFor(async () => (await status()) === 6 ? true : undefined, 60_000, 'torrent 1 seeding')

    browser = await launchBrowser()
    const page = await browser.context!.newPage()
    const pageErrors: string[] = []
    page.on('pageerror', (err) => { pageErrors.push(err.message) })
    // /transmission/ redirects to the web client, as Transmission's does.
    await page.goto(`http://127.0.0.1:${port}/transmission/`)
    expect(new URL(page.url()).pathname).toBe('/transmission/web/')
    await page.waitForFunction(() => document.querySelectorAll('.torrent .torrent_name').length === 2, undefined, { timeout: 30_000 })
    const names = await page.$$eval('.torrent .torrent_name', (els) => els.map((e) => e.textContent))
    expect(names.sort()).toEqual(['payload.bin', 'waiting-for-metadata'])
    const row = page.locator('.torrent', { hasText: 'payload.bin' })
    await expect.poll(async () => row.locator('.torrent_peer_details').textContent(), { timeout: 15_000 }).toMatch(/Seeding/)
    await mkdir(join(process.cwd(), '.reports'), { recursive: true })
    await page.screenshot({ path: SCREENSHOT, fullPage: true })

    await row.click()
    await page.click('#toolbar-pause')
    await pollFor(async () => (await status()) === 0 ? true : undefined, 15_000, 'paused from the web client')
    await expect.poll(async () => row.locator('.torrent_peer_details').textContent(), { timeout: 15_000 }).toMatch(/Paused/)
    await page.click('#toolbar-start')
    await pollFor(async () => (await status()) === 6 ? true : undefined, 15_000, 'started from the web client')
    expect(pageErrors).toEqual([])
  })
})
