/**
 * The WebRTC scenario of webrtc.test.ts, run as its own Node process inside a private network
 * namespace (nothing in it reaches the machine's network, let alone beyond). Bundled by the test
 * with esbuild; prints one JSON line per step on stdout.
 *
 * In one Chromium: page A loads WebTorrent's browser build (npm `webtorrent`, dist/webtorrent.min.js),
 * page B the Lodestone bundle with `createBrowserEngine`; both use a `bittorrent-tracker` server in
 * WebSocket mode on 127.0.0.1.
 *   1. WebTorrent seeds, Lodestone downloads (Lodestone offers, WebTorrent answers).
 *   2. Lodestone seeds from OPFS, WebTorrent downloads (WebTorrent offers, Lodestone answers).
 *   3. A second Lodestone page downloads the same torrent from the first (Lodestone to Lodestone:
 *      the offering side speaks first, through engine.adoptOutgoing).
 */
import { createHash, randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import Server from 'bittorrent-tracker/server'
import type { Page } from 'playwright-core'
import type { TestPage } from './harness.js'
import { launchBrowser, startSite } from './harness.js'

const require = createRequire(import.meta.url)
const SIZE = Number(process.env.WEBRTC_PAYLOAD_BYTES ?? 3 * 1024 * 1024 + 4321)

function emit (value: Record<string, unknown>): void { process.stdout.write(`${JSON.stringify(value)}\n`) }

const t0 = Date.now()
function mark (what: string): void { if (process.env.WEBRTC_TRACE !== undefined) process.stderr.write(`[${((Date.now() - t0) / 1000).toFixed(1)}s] ${what}\n`) }

async function main (): Promise<void> {
  const tracker = new Server({ http: false, udp: false, ws: true, stats: false, interval: 5_000 })
  await new Promise<void>((resolve) => { tracker.once('listening', () => { resolve() }); tracker.listen(0, '127.0.0.1') })
  const address = tracker.http?.address()
  const trackerUrl = `ws://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`
  tracker.on('warning', () => {})
  const site = await startSite()
  site.serve('/webtorrent.min.js', await readFile(require.resolve('webtorrent/dist/webtorrent.min.js')), 'text/javascript')
  site.serve('/wt.html', `<!doctype html><script type="module">
    import WebTorrent from '/webtorrent.min.js'
    window.client = new WebTorrent({ dht: false, lsd: false, utp: false, natUpnp: false, natPmp: false, webSeeds: false, tracker: { rtcConfig: { iceServers: [] } } })
    window.ready = true
  </script>`, 'text/html')
  mark('servers up')
  const browser = await launchBrowser({ webrtcInNamespace: true })
  mark('browser up')
  const rtc = { trackers: [trackerUrl], rtcConfig: { iceServers: [] }, announceIntervalMs: 3_000, minAnnounceIntervalMs: 2_000 }
  try {
    const wt: Page = await browser.context!.newPage()
    wt.on('pageerror', (e) => { process.stderr.write(`[webtorrent page] ${e.message}\n`) })
    await wt.goto(`${site.origin}/wt.html`)
    await wt.waitForFunction(() => (window as any).ready === true)
    const ls: TestPage = await browser.open(site)

    mark('pages open')
    // 1. WebTorrent seeds; Lodestone downloads into OPFS.
    const payloadA = randomBytes(SIZE)
    const torrentA = await wt.evaluate(async ({ data, announce }) => {
      const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0))
      return new Promise<number[]>((resolve) => {
        (window as any).client.seed(new File([bytes], 'from-webtorrent.bin'), { announce: [announce], pieceLength: 65_536 }, (t: any) => { resolve([...t.torrentFile]) })
      })
    }, { data: payloadA.toString('base64'), announce: trackerUrl })
    const startA = Date.now()
    await ls.evaluate(async ({ torrent, rtc }) => {
      const w = window as any
      w.logs = []
      w.engine = await w.L.createBrowserEngine({ webrtc: rtc, opfsRoot: 'webrtc-test', sessionStore: new w.L.MemorySessionStore(), settings: { listen: { port: 0, host: '' } }, logLevel: 'debug', onLog: (e: any) => { w.logs.push(`${e.component} ${e.message} ${JSON.stringify(e.fields ?? {})}`); if (w.logs.length > 300) w.logs.shift() } })
      w.engine.on('warning', ({ error }: any) => { w.logs.push(`engine warning ${String(error?.message ?? error)}`) })
      w.t1 = await w.engine.addTorrent(new Uint8Array(torrent))
    }, { torrent: torrentA, rtc })
    await ls.waitForFunction(() => (window as any).t1.state === 'seeding', undefined, { timeout: 60_000, polling: 200 }).catch(async (err: unknown) => {
      const dump = await ls.evaluate(() => ({ state: (window as any).t1.state, stats: (window as any).t1.stats(), logs: (window as any).logs.slice(-80) }))
      const wtState = await wt.evaluate(() => (window as any).client.torrents.map((t: any) => ({ peers: t.numPeers, progress: t.progress, uploaded: t.uploaded })))
      process.stderr.write(`${JSON.stringify({ dump, wtState }, null, 1)}\n`)
      throw err
    })
    const gotA = await ls.evaluate(async () => {
      const w = window as any
      const fs = await w.L.OpfsFileSystem.create({ root: 'webrtc-test', backend: 'async' })
      const h = await fs.open('from-webtorrent.bin', 'r')
      const size = (await fs.stat('from-webtorrent.bin')).size
      const buf = new Uint8Array(size)
      await h.read(buf, 0)
      await h.close()
      fs.close()
      const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', buf))
      return { size, sha256: [...digest].map((b) => b.toString(16).padStart(2, '0')).join(''), stats: w.t1.stats().downloadedBytes }
    })
    emit({ step: 'webtorrent-to-lodestone', ok: gotA.sha256 === createHash('sha256').update(payloadA).digest('hex') && gotA.size === SIZE, seconds: (Date.now() - startA) / 1000, downloaded: gotA.stats })

    mark('step 1 done')
    // 2. Lodestone seeds a file it writes to OPFS; WebTorrent downloads it.
    const payloadB = randomBytes(SIZE)
    const torrentB = await ls.evaluate(async ({ data, announce }) => {
      const w = window as any
      const L = w.L
      const fs = await L.OpfsFileSystem.create({ root: 'webrtc-test', backend: 'async' })
      const h = await fs.open('from-lodestone.bin', 'w')
      await h.write(Uint8Array.from(atob(data), (c) => c.charCodeAt(0)), 0)
      await h.close()
      const created = await L.createTorrent('from-lodestone.bin', { kind: 'v1', pieceLengthBytes: 65_536, announce: [[announce]] }, { fs, hasher: new L.WebCryptoHasher() })
      fs.close()
      w.t2 = await w.engine.addTorrent(created.torrent)
      return [...created.torrent]
    }, { data: payloadB.toString('base64'), announce: trackerUrl })
    await ls.waitForFunction(() => (window as any).t2.state === 'seeding', undefined, { timeout: 30_000, polling: 100 })
    const startB = Date.now()
    const gotB = await wt.evaluate(async ({ torrent, announce }) => {
      return new Promise<string>((resolve) => {
        (window as any).client.add(new Uint8Array(torrent), { announce: [announce] }, (t: any) => {
          t.on('done', () => {
            void (async () => {
              const data = new Uint8Array(await t.files[0].arrayBuffer())
              const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', data))
              resolve([...digest].map((b) => b.toString(16).padStart(2, '0')).join(''))
            })()
          })
        })
      })
    }, { torrent: torrentB, announce: trackerUrl })
    const uploaded = await ls.evaluate(() => (window as any).t2.stats().uploadedBytes)
    emit({ step: 'lodestone-to-webtorrent', ok: gotB === createHash('sha256').update(payloadB).digest('hex'), seconds: (Date.now() - startB) / 1000, uploaded })
    mark('step 2 done')

    // 3. Another Lodestone page (its own OPFS directory) downloads torrent B from the first page.
    const ls2: TestPage = await browser.open(site)
    const startC = Date.now()
    await ls2.evaluate(async ({ torrent, rtc }) => {
      const w = window as any
      w.engine = await w.L.createBrowserEngine({ webrtc: rtc, opfsRoot: 'webrtc-test-2', sessionStore: new w.L.MemorySessionStore(), settings: { listen: { port: 0, host: '' } } })
      w.t3 = await w.engine.addTorrent(new Uint8Array(torrent))
    }, { torrent: torrentB, rtc })
    await ls2.waitForFunction(() => (window as any).t3.state === 'seeding', undefined, { timeout: 60_000, polling: 200 })
    const gotC = await ls2.evaluate(async () => {
      const w = window as any
      const s = w.t3.stats()
      await w.engine.close()
      const file = await (await (await navigator.storage.getDirectory()).getDirectoryHandle('webrtc-test-2')).getFileHandle('from-lodestone.bin')
      const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', await (await file.getFile()).arrayBuffer()))
      return { sha256: [...digest].map((b) => b.toString(16).padStart(2, '0')).join(''), downloaded: s.downloadedBytes }
    })
    emit({ step: 'lodestone-to-lodestone', ok: gotC.sha256 === createHash('sha256').update(payloadB).digest('hex'), seconds: (Date.now() - startC) / 1000, downloaded: gotC.downloaded })
    mark('step 3 done')
    await ls.evaluate(async () => { await (window as any).engine.close() })
    mark('engine closed')
  } finally {
    await browser.close()
    mark('browser closed')
    await site.close()
    await new Promise<void>((resolve) => { tracker.close(() => { resolve() }) })
    mark('all closed')
  }
}

main().then(() => { process.exit(0) }, (err: unknown) => {
  emit({ step: 'error', ok: false, error: String((err as Error)?.stack ?? err) })
  process.exit(1)
})
