// The browser adapters in Chromium itself: OPFS filesystem (sync-access-handle worker and async
// backends), IndexedDB session store, worker-pool hasher, the io-daemon bridge's WebSocket in a
// worker and on the page. The Node test suite cannot reach these
// APIs; the contracts' essentials are re-checked here in a real page.
import { createHash } from 'node:crypto'
import { createServer, type Server } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startIoDaemon } from '@lodestone/io-daemon'
import { launchBrowser, startSite, type TestBrowser, type TestPage, type TestSite } from './harness.js'

describe('browser adapters in Chromium', () => {
  let site: TestSite
  let browser: TestBrowser
  let page: TestPage
  beforeAll(async () => {
    site = await startSite()
    browser = await launchBrowser({ driver: 'cdp' })
    page = await browser.open(site)
  })
  afterAll(async () => {
    await browser?.close()
    await site?.close()
  })

  for (const backend of ['worker', 'async'] as const) {
    it(`OpfsFileSystem (${backend}): modes, positional I/O, directories, rename, typed errors, confinement`, async () => {
      const r = await page.evaluate(async (backend) => {
        const L = (window as any).L
        const code = async (p: Promise<unknown>): Promise<string> => { try { await p; return 'ok' } catch (e: any) { return e.code ?? String(e) } }
        const fs = await L.OpfsFileSystem.create({ root: `adapters-test/${backend}`, backend })
        const out: Record<string, unknown> = { backend: fs.backend }
        out.missing = await code(fs.open('nope.bin', 'r'))
        out.belowMissingDir = await code(fs.open('no/dir/f', 'r+'))
        await fs.mkdir('a/b', { recursive: true })
        const h = await fs.open('a/b/f.bin', 'r+')
        await h.write(new Uint8Array([1, 2, 3, 4, 5]), 0)
        await h.write(new Uint8Array([9, 9]), 10) // gap is zero-filled
        const buf = new Uint8Array(20)
        out.readCount = await h.read(buf, 0)
        out.readBytes = [...buf.subarray(0, 12)]
        out.beyondEnd = await h.read(new Uint8Array(4), 100)
        await h.truncate(3)
        out.sizeAfterTruncate = (await fs.stat('a/b/f.bin')).size
        await h.sync()
        await h.close()
        out.closedUse = await code(h.read(new Uint8Array(1), 0))
        const ro = await fs.open('a/b/f.bin', 'r')
        out.writeReadOnly = await code(ro.write(new Uint8Array(1), 0))
        await ro.close()
        const w = await fs.open('a/b/f.bin', 'w')
        out.truncatedByW = (await fs.stat('a/b/f.bin')).size
        await w.close()
        out.readdir = await fs.readdir('a/b')
        out.statDir = (await fs.stat('a')).isDirectory
        out.exists = [await fs.exists('a/b/f.bin'), await fs.exists('a/b/zzz'), await fs.exists('a/b/f.bin/x')]
        await fs.rename('a/b/f.bin', 'a/g.bin')
        out.afterRename = [await fs.exists('a/b/f.bin'), await fs.exists('a/g.bin')]
        out.unlinkDir = await code(fs.unlink('a/b'))
        out.rmdirNonEmpty = await code(fs.rmdir('a'))
        out.escape = [await code(fs.open('../x', 'r+')), await code(fs.stat('a/../../x')), await code(fs.mkdir('..'))]
        out.normalized = await fs.exists('/a/./g.bin')
        await fs.rmdir('a', { recursive: true })
        out.gone = await fs.exists('a')
        out.openHandles = fs.openHandleCount
        fs.close()
        return out
      }, backend)
      expect(r).toEqual({
        backend,
        missing: 'STORAGE_NOT_FOUND',
        belowMissingDir: 'STORAGE_NOT_FOUND',
        readCount: 12,
        readBytes: [1, 2, 3, 4, 5, 0, 0, 0, 0, 0, 9, 9],
        beyondEnd: 0,
        sizeAfterTruncate: 3,
        closedUse: 'STORAGE_IO',
        writeReadOnly: 'STORAGE_IO',
        truncatedByW: 0,
        readdir: ['f.bin'],
        statDir: true,
        exists: [true, false, false],
        afterRename: [false, true],
        unlinkDir: 'STORAGE_IO',
        rmdirNonEmpty: 'STORAGE_IO',
        escape: ['STORAGE_IO', 'STORAGE_IO', 'STORAGE_IO'],
        normalized: true,
        gone: false,
        openHandles: 0
      })
    })
  }

  it('IndexedDBSessionStore: set/get/replace, copies, prefix keys, delete, clear, and survives a reopen', async () => {
    const r = await page.evaluate(async () => {
      const L = (window as any).L
      const s = new L.IndexedDBSessionStore('adapters-test')
      await s.clear()
      const v = new Uint8Array([1, 2, 3])
      await s.set('torrent:aa:bitfield', v)
      v[0] = 99
      await s.set('torrent:aa:progress', new Uint8Array(0))
      await s.set('torrent:bb:bitfield', new Uint8Array(1 << 20).fill(7))
      await s.set('engine:x', new Uint8Array([4]))
      await s.set('engine:x', new Uint8Array([5, 6]))
      const got = await s.get('torrent:aa:bitfield')
      got[1] = 42
      const again = await s.get('torrent:aa:bitfield')
      s.close()
      const s2 = new L.IndexedDBSessionStore('adapters-test')
      const out = {
        first: [...again], empty: (await s2.get('torrent:aa:progress'))?.length, big: (await s2.get('torrent:bb:bitfield'))?.length,
        replaced: [...await s2.get('engine:x')], missing: await s2.get('nope'), keys: await s2.keys('torrent:'), all: (await s2.keys()).length
      }
      await s2.delete('engine:x')
      const afterDelete = await s2.keys()
      await s2.clear()
      return { ...out, afterDelete, afterClear: await s2.keys() }
    })
    expect(r).toEqual({
      first: [1, 2, 3], empty: 0, big: 1 << 20, replaced: [5, 6], missing: null,
      keys: ['torrent:aa:bitfield', 'torrent:aa:progress', 'torrent:bb:bitfield'], all: 4,
      afterDelete: ['torrent:aa:bitfield', 'torrent:aa:progress', 'torrent:bb:bitfield'], afterClear: []
    })
  })

  it('DaemonConnection: TCP through the io-daemon with the WebSocket in a worker and on the page, bytes identical and in order both ways', async () => {
    // An echo server the page reaches through the bridge.
    const echo: Server = createServer((s) => { s.pipe(s) })
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve))
    const echoPort = (echo.address() as { port: number }).port
    const daemon = await startIoDaemon({ allowOrigins: [site.origin] })
    try {
      const r = await page.evaluate(async ({ port, token, echoPort }) => {
        const L = (window as any).L
        const out: Array<{ inWorker: boolean, sent: number, same: boolean }> = []
        for (const worker of [true, false]) {
          const conn = await L.DaemonConnection.connect({ port, authToken: token, worker })
          const socket = await new L.DaemonSocketFactory(conn).connectTcp('127.0.0.1', echoPort)
          // Small sends (batched to the worker) and large ones (through its transfer pool), in order.
          const sizes = [17, 17, 5, 200_000, 17, 1_500_000, 3, 65_536, 70_000, 9]
          const total = sizes.reduce((a, b) => a + b, 0)
          const sent = new Uint8Array(total).map((_, i) => (i * 7 + (i >> 11)) & 0xff)
          const got = new Uint8Array(total)
          let n = 0
          const done = new Promise<void>((resolve) => {
            socket.onData((d: Uint8Array) => { got.set(d, n); n += d.length; if (n >= total) resolve() })
          })
          let at = 0
          for (const size of sizes) { socket.send(sent.slice(at, at + size)); at += size }
          await done
          out.push({ inWorker: conn.runsInWorker, sent: total, same: got.every((b, i) => b === sent[i]) })
          socket.close()
          conn.close()
        }
        return out
      }, { port: daemon.port, token: daemon.token, echoPort })
      expect(r).toEqual([{ inWorker: true, sent: 1_835_604, same: true }, { inWorker: false, sent: 1_835_604, same: true }])
    } finally {
      await daemon.close()
      echo.close()
    }
  })

  it('BrowserHasher: worker pool digests match node:crypto, for one buffer and for parts', async () => {
    const r = await page.evaluate(async () => {
      const L = (window as any).L
      const h = new L.BrowserHasher({ workers: 2 })
      const data = new Uint8Array(1_000_003).map((_, i) => (i * 31) & 0xff)
      const hex = (b: Uint8Array): string => [...b].map((x) => x.toString(16).padStart(2, '0')).join('')
      const results = await Promise.all([
        h.digest('sha1', data), h.digest('sha256', data), h.digest('sha1', [data.subarray(0, 10), data.subarray(10)])
      ])
      const out = { workers: h.workerCount, concurrency: h.concurrency, digests: results.map(hex), intact: data[5] }
      await h.close()
      let closed = 'ok'
      try { await h.digest('sha1', data) } catch (e: any) { closed = e.code }
      return { ...out, closed }
    })
    const data = new Uint8Array(1_000_003).map((_, i) => (i * 31) & 0xff)
    const sha1 = createHash('sha1').update(data).digest('hex')
    expect(r).toEqual({ workers: 2, concurrency: 2, digests: [sha1, createHash('sha256').update(data).digest('hex'), sha1], intact: 155, closed: 'CLOSED' })
  })
})
