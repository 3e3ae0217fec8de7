/**
 * Our web UI (/ui/, served by `lodestone daemon`, talking only to /api/v1 and its WebSocket) in
 * headless Debian Chromium (issue 14): a magnet is added through the page, its metadata and data
 * come from a libtorrent seeder (capped at 1 MB/s by an engine setting so the download lasts a few
 * seconds), the detail pane shows the seeder in Peers and the speed graph draws the download, a
 * file's priority is set to skip from the Files tab while it downloads (the engine reports
 * priority 0 and the torrent completes without that file's pieces), and the wanted files complete
 * byte-identical. Screenshots, desktop and
 * phone-sized, are saved as test artifacts (.reports/daemon-web-ui*.png).
 */
import { mkdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { LodestoneApiClient } from '@lodestone/daemon'
import { launchBrowser, type TestBrowser } from '../../packages/engine/test/browser/harness.js'
import { makeTorrent, removeTempDirs, sha256File, tempDir, writeContent } from '../helpers/fixtures.js'
import { startLibtorrentPeer, type LibtorrentPeer } from '../helpers/libtorrent-peer.js'
import { pollFor, startDaemon, type RunningDaemon } from './daemon-harness.js'

const REPORTS = join(process.cwd(), '.reports')
const FILES = { 'movie.bin': 5_000_000, 'extras/notes.txt': 300_000, 'extras/skip-me.bin': 2_000_000 }
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

describe('our web UI', () => {
  it('adds a magnet, shows peers and the speed graph, skips a file, completes', async () => {
    const base = await tempDir('lodestone-daemon-ui-')
    const seed = join(base, 'seed')
    const downloads = join(base, 'downloads')
    await mkdir(seed, { recursive: true })
    await writeContent(seed, 'show', FILES)
    const torrentPath = join(base, 'show.torrent')
    const created = await makeTorrent(seed, 'show', 'v1', torrentPath, 65_536)
    const infoHash = Buffer.from(created.infoHashV1!).toString('hex')
    const daemon = await startDaemon(base, {
      downloadDir: downloads,
      stateDir: join(base, 'state'),
      engine: { listen: { host: '127.0.0.1', port: 0 }, discovery: { dht: false, lsd: false, portMapping: false, pex: false }, rateLimit: { downloadRateBytesPerSec: 1_000_000 } }
    })
    daemons.push(daemon)
    const token = (await readFile(daemon.apiTokenFile, 'utf8')).trim()
    const api = new LodestoneApiClient({ baseUrl: `http://127.0.0.1:${daemon.rpcPort}`, token })

    browser = await launchBrowser()
    const page = await browser.context!.newPage()
    const pageErrors: string[] = []
    page.on('pageerror', (err) => { pageErrors.push(err.message) })
    page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') pageErrors.push(`console: ${m.text()}`) })
    page.on('dialog', (d) => { pageErrors.push(`dialog: ${d.message()}`); void d.dismiss() })
    await page.goto(`http://127.0.0.1:${daemon.rpcPort}/#token=${token}`)
    await page.waitForFunction(() => (window as unknown as { lodestoneReady?: boolean }).lodestoneReady === true, undefined, { timeout: 30_000 })
    expect(new URL(page.url()).hash).toBe('') // the token left the address bar

    await page.fill('#add-input', `magnet:?xt=urn:btih:${infoHash}&dn=show`)
    await page.click('#add-form button[type=submit]')
    const row = page.locator(`#torrents tr[data-hash="${infoHash}"]`)
    await row.waitFor({ timeout: 15_000 })
    const seeder = await startLibtorrentPeer({ torrentPath, savePath: seed, mode: 'seed', peers: [{ host: '127.0.0.1', port: daemon.peerPort }] })
    peers.push(seeder)
    await row.click()
    await expect.poll(async () => page.locator('#detail-name').textContent(), { timeout: 30_000 }).toBe('show')

    // Skip a file from the Files tab while the download runs.
    const skip = page.locator('#tab-files select[aria-label="priority of show/extras/skip-me.bin"]')
    await skip.waitFor({ timeout: 30_000 })
    await skip.selectOption('0')
    await pollFor(async () => (await api.torrent(infoHash)).files.find((f) => f.path === 'show/extras/skip-me.bin')?.priority === 0 ? true : undefined, 10_000, 'priority 0 in the engine')

    // Peers and the speed graph while it downloads.
    await page.click('.tabs button[data-tab="peers"]')
    await expect.poll(async () => page.locator('#tab-peers tbody tr').count(), { timeout: 20_000 }).toBeGreaterThan(0)
    expect(await page.locator('#tab-peers tbody tr td').first().textContent()).toMatch(/^127\.0\.0\.1:\d+$/)
    await expect.poll(async () => Number(await page.locator('#speed-graph').getAttribute('data-max-down')), { timeout: 20_000 }).toBeGreaterThan(100_000)
    await mkdir(REPORTS, { recursive: true })
    await page.screenshot({ path: join(REPORTS, 'daemon-web-ui.png'), fullPage: true })

    // Completion: the wanted files byte-identical, the skipped one never created.
    await pollFor(async () => (await api.torrent(infoHash)).stats.progress === 1 ? true : undefined, 60_000, 'the wanted files to complete')
    expect(await sha256File(join(downloads, 'show', 'movie.bin'))).toBe(await sha256File(join(seed, 'show', 'movie.bin')))
    expect(await sha256File(join(downloads, 'show', 'extras', 'notes.txt'))).toBe(await sha256File(join(seed, 'show', 'extras', 'notes.txt')))
    const done = await api.torrent(infoHash)
    expect(done.stats.wantedBytes).toBeLessThan(done.stats.totalBytes)
    expect(done.files.find((f) => f.path === 'show/extras/skip-me.bin')!.progress).toBeLessThan(1)
    await page.click('.tabs button[data-tab="pieces"]')
    await expect.poll(async () => Number(await page.locator('#pieces-map').getAttribute('data-have')), { timeout: 10_000 }).toBeGreaterThan(0)
    await page.setViewportSize({ width: 390, height: 844 })
    await page.screenshot({ path: join(REPORTS, 'daemon-web-ui-phone.png'), fullPage: true })
    expect(pageErrors).toEqual([])
  })
})
