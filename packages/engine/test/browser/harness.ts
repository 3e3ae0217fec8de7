/**
 * Browser-test harness: Debian's Chromium (`/usr/bin/chromium`) driven by playwright-core, and a
 * static HTTP server on 127.0.0.1 that serves the browser bundle, a blank test page and whatever
 * files a test registers (torrents, WebTorrent's build).
 *
 * The page is a plain page: no COOP/COEP headers, so no SharedArrayBuffer — the usual case a web
 * app or extension page is in. Chromium runs headless with a fresh profile directory and no
 * background networking; everything it reaches is on 127.0.0.1. We start Chromium ourselves
 * (CHROMIUM_FLAGS) and attach Playwright over CDP: Playwright's own browser download cannot work here.
 */
import { execFile, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'
import { WebSocket } from 'ws'

export const CHROMIUM = '/usr/bin/chromium'
/** packages/engine, found upwards from this file (it may run bundled from elsewhere: the WebRTC scenario, bench/browser). */
function findEngineDir (): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); dir !== dirname(dir); dir = dirname(dir)) {
    if (existsSync(join(dir, 'packages', 'engine', 'package.json'))) return join(dir, 'packages', 'engine')
    if (existsSync(join(dir, 'scripts', 'build-browser.mjs'))) return dir
  }
  throw new Error('packages/engine not found above the browser test harness')
}
const engineDir = findEngineDir()
export const BUNDLE_PATH = join(engineDir, 'dist', 'browser', 'lodestone.js')

/** Builds the bundle once per test process (esbuild takes about a second). */
let built: Promise<void> | null = null
export async function buildBundle (): Promise<void> {
  built ??= promisify(execFile)(process.execPath, [join(engineDir, 'scripts', 'build-browser.mjs')]).then(() => {})
  await built
}

const PAGE = `<!doctype html><meta charset="utf-8"><title>lodestone test</title>
<script type="module">
  import * as L from '/lodestone.js'
  window.L = L
  window.ready = true
</script>`

export interface TestSite {
  /** `http://127.0.0.1:PORT` */
  origin: string
  /** Serves `body` at `path` (e.g. '/t.torrent'). */
  serve: (path: string, body: Uint8Array | string, type?: string) => void
  close: () => Promise<void>
}

export async function startSite (): Promise<TestSite> {
  await buildBundle()
  const files = new Map<string, { body: Uint8Array | string, type: string }>()
  files.set('/', { body: PAGE, type: 'text/html' })
  const server: Server = createServer((req, res) => {
    void (async () => {
      const path = (req.url ?? '/').split('?')[0] ?? '/'
      let entry = files.get(path)
      if (entry === undefined && path === '/lodestone.js') entry = { body: await readFile(BUNDLE_PATH), type: 'text/javascript' }
      if (entry === undefined) { res.writeHead(404).end(); return }
      res.writeHead(200, { 'Content-Type': entry.type, 'Cache-Control': 'no-store' })
      res.end(entry.body)
    })()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  return {
    origin: `http://127.0.0.1:${port}`,
    serve: (path, body, type = 'application/octet-stream') => { files.set(path, { body, type }) },
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => { resolve() }))
    }
  }
}

/**
 * The part of a page the tests use: Playwright's Page has it, and so does {@link CdpPage}, a tab
 * driven over the bare DevTools protocol (see {@link LaunchOptions.driver}).
 */
export interface TestPage {
  evaluate: <R, A = undefined>(fn: (arg: A) => R | Promise<R>, arg?: A) => Promise<R>
  waitForFunction: <A>(fn: (arg: A) => unknown, arg: A, options: { timeout: number, polling: number }) => Promise<void>
  reload: () => Promise<void>
  close: () => Promise<void>
}

export interface TestBrowser {
  /** Playwright's view of the browser (driver 'playwright' only). */
  browser: Browser | null
  context: BrowserContext | null
  /** Opens the test page (bundle loaded as `window.L`). */
  open: (site: TestSite) => Promise<TestPage>
  close: () => Promise<void>
}

/** Chromium's command line (as the test rules ask), a fresh profile and a DevTools port. */
export const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync']

export interface LaunchOptions {
  /**
   * WebRTC between pages of this browser: show real addresses in candidates instead of mDNS names
   * (there is no mDNS responder in a private namespace). Only for a browser in a network namespace
   * of the test's own: Chromium never gathers loopback candidates, so the namespace gives it a
   * veth pair with a private address that leads nowhere (see webrtc.test.ts).
   */
  webrtcInNamespace?: boolean
  /**
   * 'playwright' (default): playwright-core attached over CDP. 'cdp': no Playwright at all, tabs
   * driven with Runtime.evaluate over a bare DevTools connection. Why: Playwright enables the
   * Network domain on every tab it knows of, and Chromium then copies each HTTP body to the
   * driver — measured on this machine (load ~17), 256 KiB POSTs to the io-daemon ran at 4.5 MiB/s
   * under Playwright and 32–40 MiB/s (1 MiB: 56 MiB/s) with no driver attached. Tests that move
   * tens of MiB through the bridge's HTTP file API, and the bench, use 'cdp'.
   */
  driver?: 'playwright' | 'cdp'
}

/** A minimal DevTools protocol client (browser endpoint, flattened target sessions). */
class Cdp {
  private nextId = 1
  private readonly pending = new Map<number, { resolve: (v: any) => void, reject: (e: Error) => void }>()
  private constructor (private readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      const m = JSON.parse(data.toString()) as { id?: number, result?: unknown, error?: { message: string } }
      if (m.id === undefined) return
      const p = this.pending.get(m.id)
      if (p === undefined) return
      this.pending.delete(m.id)
      if (m.error !== undefined) p.reject(new Error(m.error.message))
      else p.resolve(m.result)
    })
  }

  static async connect (url: string): Promise<Cdp> {
    const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 256 * 1024 * 1024 })
    await new Promise<void>((resolve, reject) => { ws.once('open', () => { resolve() }); ws.once('error', reject) })
    return new Cdp(ws)
  }

  async send (method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<any> {
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject })
      this.ws.send(JSON.stringify({ id, method, params, ...(sessionId !== undefined ? { sessionId } : {}) }))
    })
  }

  close (): void { this.ws.close() }
}

class CdpPage implements TestPage {
  constructor (private readonly cdp: Cdp, private readonly targetId: string, private readonly sessionId: string) {}

  /** A raw DevTools command on this tab's session (profiling in bench/browser). */
  async send (method: string, params: Record<string, unknown> = {}): Promise<any> {
    return this.cdp.send(method, params, this.sessionId)
  }

  async evaluate<R, A = undefined> (fn: (arg: A) => R | Promise<R>, arg?: A): Promise<R> {
    const r = await this.cdp.send('Runtime.evaluate', {
      expression: `(${fn.toString()})(${JSON.stringify(arg) ?? 'undefined'})`, awaitPromise: true, returnByValue: true
    }, this.sessionId) as { result: { value?: R }, exceptionDetails?: { exception?: { description?: string }, text?: string } }
    if (r.exceptionDetails !== undefined) throw new Error(r.exceptionDetails.exception?.description ?? r.exceptionDetails.text ?? 'evaluation failed')
    return r.result.value as R
  }

  async waitForFunction<A> (fn: (arg: A) => unknown, arg: A, options: { timeout: number, polling: number }): Promise<void> {
    const deadline = Date.now() + options.timeout
    for (;;) {
      if (Boolean(await this.evaluate(fn, arg))) return
      if (Date.now() > deadline) throw new Error(`waitForFunction: timed out after ${options.timeout} ms`)
      await new Promise((resolve) => setTimeout(resolve, options.polling))
    }
  }

  async reload (): Promise<void> {
    await this.cdp.send('Page.reload', {}, this.sessionId)
    await new Promise((resolve) => setTimeout(resolve, 100))
    await this.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true, undefined, { timeout: 30_000, polling: 50 })
  }

  async close (): Promise<void> { await this.cdp.send('Target.closeTarget', { targetId: this.targetId }).catch(() => {}) }
}

export async function launchBrowser (options: LaunchOptions = {}): Promise<TestBrowser> {
  const profile = await mkdtemp(join(tmpdir(), 'lodestone-chromium-'))
  const extra = options.webrtcInNamespace === true ? ['--disable-features=WebRtcHideLocalIpsWithMdns'] : []
  const child = spawn(CHROMIUM, [...CHROMIUM_FLAGS, ...extra, `--user-data-dir=${profile}`, '--remote-debugging-address=127.0.0.1', '--remote-debugging-port=0', 'about:blank'],
    { stdio: ['ignore', 'ignore', 'pipe'] })
  const exited = new Promise<void>((resolve) => child.once('exit', () => { resolve() }))
  const endpoint = await new Promise<string>((resolve, reject) => {
    let err = ''
    const timer = setTimeout(() => { reject(new Error(`chromium did not start: ${err.slice(-2000)}`)) }, 30_000)
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      err += chunk
      const m = /DevTools listening on (ws:\/\/\S+)/.exec(err)
      if (m?.[1] !== undefined) { clearTimeout(timer); resolve(m[1]) }
    })
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`chromium exited (${code}): ${err.slice(-2000)}`)) })
  })
  const shutdown = async (): Promise<void> => {
    child.kill('SIGKILL')
    await exited
    // Chromium's helpers may still be writing the profile for a moment after it exits.
    await rm(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 }).catch(() => {})
  }
  if (options.driver === 'cdp') {
    const cdp = await Cdp.connect(endpoint)
    return {
      browser: null,
      context: null,
      open: async (site) => {
        const { targetId } = await cdp.send('Target.createTarget', { url: `${site.origin}/` }) as { targetId: string }
        const { sessionId } = await cdp.send('Target.attachToTarget', { targetId, flatten: true }) as { sessionId: string }
        const page = new CdpPage(cdp, targetId, sessionId)
        await page.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true, undefined, { timeout: 30_000, polling: 50 })
        return page
      },
      close: async () => {
        await cdp.send('Browser.close').catch(() => {})
        cdp.close()
        await shutdown()
      }
    }
  }
  const browser = await chromium.connectOverCDP(endpoint)
  const context = browser.contexts()[0] ?? await browser.newContext()
  return {
    browser,
    context,
    open: async (site) => {
      const page = await context.newPage()
      page.on('pageerror', (err) => { process.stderr.write(`[page error] ${err.message}\n`) })
      await page.goto(`${site.origin}/`)
      await page.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true)
      return {
        evaluate: async (fn, arg) => page.evaluate(fn as any, arg),
        waitForFunction: async (fn, arg, o) => { await page.waitForFunction(fn as any, arg, o) },
        reload: async () => {
          await page.reload()
          await page.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true)
        },
        close: async () => { await page.close() },
        playwright: page
      } satisfies TestPage & { playwright: Page }
    },
    close: async () => {
      await browser.close().catch(() => {})
      await shutdown()
    }
  }
}
