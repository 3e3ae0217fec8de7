/**
 * A video plays in a browser while it downloads (issue 14): headless Chromium records a WebM
 * (MediaRecorder over a canvas of moving noise, ~10 s, ~2 MB — no video tools needed), a
 * libtorrent seeder serves it, `lodestone daemon` downloads it capped at 120 kB/s, and a `<video>`
 * element pointed at `/files/<infohash>/0` (Range requests through the engine's read streams)
 * plays: its `currentTime` advances past 2 s while the torrent is still far from complete.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { LodestoneApiClient } from '@lodestone/daemon'
import { launchBrowser, type TestBrowser } from '../../packages/engine/test/browser/harness.js'
import { makeTorrent, removeTempDirs, tempDir } from '../helpers/fixtures.js'
import { startLibtorrentPeer, type LibtorrentPeer } from '../helpers/libtorrent-peer.js'
import { startDaemon, type RunningDaemon } from './daemon-harness.js'

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

describe('streaming a video while it downloads', () => {
  it('plays in a <video> element before the torrent completes', async () => {
    const base = await tempDir('lodestone-daemon-video-')
    const seed = join(base, 'seed')
    await mkdir(join(seed, 'clip'), { recursive: true })
    const daemon = await startDaemon(base, {
      downloadDir: join(base, 'downloads'),
      stateDir: join(base, 'state'),
      engine: { listen: { host: '127.0.0.1', port: 0 }, discovery: { dht: false, lsd: false, portMapping: false, pex: false }, rateLimit: { downloadRateBytesPerSec: 120_000 } }
    })
    daemons.push(daemon)
    const token = (await readFile(daemon.apiTokenFile, 'utf8')).trim()
    const api = new LodestoneApiClient({ baseUrl: `http://127.0.0.1:${daemon.rpcPort}`, token })

    browser = await launchBrowser()
    const page = await browser.context!.newPage()
    await page.goto(`http://127.0.0.1:${daemon.rpcPort}/ui/#token=${token}`)
    // Record the clip in the page: noise keeps the encoder's bitrate up, so the file is ~2 MB.
    const base64 = await page.evaluate(async () => {
      const canvas = document.createElement('canvas')
      canvas.width = 320
      canvas.height = 240
      const ctx = canvas.getContext('2d')!
      const stream = canvas.captureStream(25)
      const recorder = new MediaRecorder(stream, { mimeType: 'video/webm;codecs=vp8', videoBitsPerSecond: 1_600_000 })
      const chunks: Blob[] = []
      recorder.ondataavailable = (e) => { chunks.push(e.data) }
      const image = ctx.createImageData(320, 240)
      const timer = setInterval(() => {
        for (let i = 0; i < image.data.length; i += 4) {
          image.data[i] = Math.random() * 255
          image.data[i + 1] = Math.random() * 255
          image.data[i + 2] = Math.random() * 255
          image.data[i + 3] = 255
        }
        ctx.putImageData(image, 0, 0)
      }, 40)
      recorder.start(500)
      await new Promise((resolve) => setTimeout(resolve, 10_000))
      recorder.stop()
      await new Promise((resolve) => { recorder.onstop = resolve })
      clearInterval(timer)
      const bytes = new Uint8Array(await new Blob(chunks).arrayBuffer())
      let binary = ''
      for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000))
      return btoa(binary)
    })
    const clip = Buffer.from(base64, 'base64')
    console.log(`recorded clip: ${clip.length} bytes`)
    expect(clip.length).toBeGreaterThan(1_000_000)
    await writeFile(join(seed, 'clip', 'clip.webm'), clip)
    const torrentPath = join(base, 'clip.torrent')
    const created = await makeTorrent(seed, 'clip', 'v1', torrentPath, 32_768)
    const infoHash = Buffer.from(created.infoHashV1!).toString('hex')

    const { torrent } = await api.addTorrent({ metainfo: created.torrent })
    expect(torrent.infoHash).toBe(infoHash)
    const seeder = await startLibtorrentPeer({ torrentPath, savePath: seed, mode: 'seed', peers: [{ host: '127.0.0.1', port: daemon.peerPort }] })
    peers.push(seeder)

    await page.evaluate((src) => {
      const video = document.createElement('video')
      video.id = 'clip'
      video.muted = true
      video.autoplay = true
      video.src = src
      document.body.append(video)
      void video.play().catch(() => {})
    }, `/files/${infoHash}/0?token=${token}`)
    let progressAtPlay = 1
    for (let i = 0; i < 120; i++) {
      const time = await page.evaluate(() => (document.getElementById('clip') as HTMLVideoElement).currentTime)
      if (time > 2) {
        progressAtPlay = (await api.torrent(infoHash)).stats.progress
        break
      }
      await new Promise((resolve) => setTimeout(resolve, 250))
    }
    console.log(`<video> passed 2 s of playback at ${(progressAtPlay * 100).toFixed(1)} % of the download`)
    expect(progressAtPlay).toBeLessThan(0.8)
    const error = await page.evaluate(() => (document.getElementById('clip') as HTMLVideoElement).error?.message ?? null)
    expect(error).toBeNull()
  })
})
