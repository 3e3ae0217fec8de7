// The browser build (issue 17): builds, exports what a page needs, contains no Node built-in,
// and runs in Chromium in a plain (not cross-origin isolated) page.
import { readFile, stat } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { builtinModules } from 'node:module'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BUNDLE_PATH, buildBundle, launchBrowser, startSite, type TestBrowser, type TestSite } from './harness.js'

const REQUIRED = ['createBrowserEngine', 'createDaemonEngine', 'createDaemonWithOPFSEngine', 'IndexedDBSessionStore',
  'MemorySessionStore', 'ChromeStorageSessionStore', 'OpfsFileSystem', 'parseTorrent', 'parseMagnet', 'buildMagnet', 'magnetFromMetainfo',
  'BtEngine', 'LodestoneError']

describe('browser bundle', () => {
  let site: TestSite
  let browser: TestBrowser
  beforeAll(async () => {
    await buildBundle()
    site = await startSite()
    browser = await launchBrowser()
  })
  afterAll(async () => {
    await browser?.close()
    await site?.close()
  })

  it('has no Node built-in among its inputs or imports, and reports its size', async () => {
    const meta = JSON.parse(await readFile(join(dirname(BUNDLE_PATH), 'meta.json'), 'utf8')) as {
      inputs: Record<string, { imports: Array<{ path: string, external?: boolean }> }>
      outputs: Record<string, { bytes: number }>
    }
    const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]))
    const offending = Object.entries(meta.inputs).flatMap(([file, input]) =>
      input.imports.filter((i) => builtins.has(i.path) || i.path.startsWith('node:') || i.external === true).map((i) => `${file} → ${i.path}`))
    expect(offending).toEqual([])
    const inputs = Object.keys(meta.inputs)
    expect(inputs.filter((f) => f.includes('adapters/node/') && !f.endsWith('node-clock.ts'))).toEqual([])
    const code = await readFile(BUNDLE_PATH, 'utf8')
    expect(code).not.toMatch(/\brequire\(\s*["']/)
    expect(code).not.toMatch(/from\s*["']node:/)
    expect(code).not.toMatch(/import\(\s*["']node:/)
    const size = (await stat(BUNDLE_PATH)).size
    process.stdout.write(`browser bundle: ${(size / 1024).toFixed(1)} KiB, ${inputs.length} modules\n`)
    expect(size).toBeLessThan(1024 * 1024)
  })

  it('loads in a plain page (no SharedArrayBuffer there) and exports the browser API', async () => {
    const page = await browser.open(site)
    const info = await page.evaluate((names) => {
      const L = (window as unknown as { L: Record<string, unknown> }).L
      return { missing: names.filter((n) => typeof L[n] !== 'function'), sab: typeof SharedArrayBuffer, isolated: crossOriginIsolated }
    }, REQUIRED)
    expect(info).toEqual({ missing: [], sab: 'undefined', isolated: false })
    const parsed = await page.evaluate(() => {
      const L = (window as unknown as { L: any }).L
      const m = L.parseMagnet('magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567&dn=x')
      return { name: m.displayName, link: L.buildMagnet(m) }
    })
    expect(parsed.name).toBe('x')
    expect(parsed.link).toContain('0123456789abcdef0123456789abcdef01234567')
    await page.close()
  })

  it('the demo page loads the bundle and starts a WebRTC-only engine (createBrowserEngine)', async () => {
    site.serve('/demo/', await readFile(join(dirname(BUNDLE_PATH), '..', '..', 'demo', 'index.html')), 'text/html')
    site.serve('/dist/browser/lodestone.js', await readFile(BUNDLE_PATH), 'text/javascript')
    const page = await browser.context!.newPage()
    const errors: string[] = []
    page.on('pageerror', (e) => errors.push(e.message))
    await page.goto(`${site.origin}/demo/`)
    await page.fill('#tracker', 'ws://127.0.0.1:1/announce')
    await page.click('#start')
    await page.waitForFunction(() => document.getElementById('engine-state')?.textContent !== '', undefined, { timeout: 20_000 })
    expect(await page.textContent('#engine-state')).toBe('running (webrtc), 0 torrent(s) restored')
    expect(errors).toEqual([])
    await page.close()
  })
})
