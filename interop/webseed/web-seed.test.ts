/**
 * Web seeds (BEP 19) over real HTTP on 127.0.0.1: a small Node range server (web-seed-server.ts)
 * is the only source (or one of two) for torrents made by Lodestone's createTorrent with a
 * `url-list`; Lodestone fetches through NodeHttpClient (keep-alive) and must end with files that
 * hash exactly like the originals.
 * - single file (URL is the file) and a hybrid multi-file tree (URL is the directory; a unicode
 *   file name and spaces in names; pad files are never asked for), the tree also through the CLI;
 * - a magnet's `ws=` (the .torrent has no url-list): metadata from a peer, then the web seed;
 * - 503 with Retry-After, then recovery; a redirecting URL;
 * - wrong bytes: hash failures charged to the seed, which is dropped; with a second, honest
 *   mirror the download completes, with only the bad one it stops with nothing accepted;
 * - short bodies: refused as bad responses, the pieces fetched again.
 * The mixed swarm (libtorrent seeder + web seed) is in mixed-swarm.test.ts.
 */
import { execFile } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { NodeFileSystem, NodeHasher } from '../../packages/engine/adapters/node/index.js'
import { createNodeEngine } from '../../packages/engine/presets/node.js'
import { hasCode, type LodestoneError } from '../../packages/engine/src/errors.js'
import { createTorrent } from '../../packages/engine/src/metainfo/create-torrent.js'
import { buildMagnet } from '../../packages/engine/src/metainfo/magnet.js'
import { parseTorrent } from '../../packages/engine/src/metainfo/parse-torrent.js'
import type { MetaVersion } from '../../packages/engine/src/metainfo/types.js'
import type { BtEngine } from '../../packages/engine/src/session/bt-engine.js'
import type { Torrent } from '../../packages/engine/src/torrent/torrent.js'
import { SINGLE_FILE_BYTES, digestTree, pollUntil, removeTempDirs, tempDir, waitCompleted, writeContent } from '../helpers/fixtures.js'
import { startWebSeedServer, type WebSeedServer } from './web-seed-server.js'

const CLI = fileURLToPath(new URL('../../packages/cli/bin/lodestone.js', import.meta.url))

/** A unicode name, spaces in a directory and a file name, nesting. */
const TREE_NAME = 'Tree Ünïcode'
const TREE: Record<string, number> = {
  'dir with space/ファイル.bin': 500_001,
  'ünï cödé.dat': 300_007,
  'a/b/c.bin': 400_000,
  'one byte': 1
}

const engines: BtEngine[] = []
const servers: WebSeedServer[] = []
afterEach(async () => {
  await Promise.all(engines.splice(0).map(async (e) => { await e.close() }))
  await Promise.all(servers.splice(0).map(async (s) => { await s.close() }))
})
afterAll(async () => { await removeTempDirs() })

/** Content in a served directory, a server for it, and a torrent whose url-list is `urls(server)`. */
async function fixture (layout: 'single' | 'tree', kind: MetaVersion, urls: (s: WebSeedServer[]) => string[], serverCount = 1) {
  const root = await tempDir()
  const name = layout === 'single' ? 'payload.bin' : TREE_NAME
  await writeContent(root, name, layout === 'single' ? SINGLE_FILE_BYTES : TREE)
  const started: WebSeedServer[] = []
  for (let i = 0; i < serverCount; i++) {
    const s = await startWebSeedServer(root)
    servers.push(s)
    started.push(s)
  }
  const hasher = new NodeHasher({ workers: 2 })
  try {
    const created = await createTorrent(name, { kind, pieceLengthBytes: 32_768, urlList: urls(started) }, { fs: new NodeFileSystem(root), hasher, nativePath: (p) => join(root, p) })
    const torrentPath = join(await tempDir(), 'ws.torrent')
    await writeFile(torrentPath, created.torrent)
    return { root, name, servers: started, torrentPath, torrentBytes: created.torrent }
  } finally {
    await hasher.close()
  }
}

async function leech (torrentBytes: Uint8Array): Promise<{ torrent: Torrent, dir: string, warnings: LodestoneError[], sources: Set<string> }> {
  const dir = await tempDir()
  const engine = createNodeEngine({ downloadPath: dir, port: 0, host: '127.0.0.1', hasherWorkers: 2, logLevel: 'off' })
  engines.push(engine)
  const torrent = await engine.addTorrent(torrentBytes, { downloadPath: dir })
  const warnings: LodestoneError[] = []
  torrent.on('warning', ({ error }) => { if (hasCode(error, 'WEBSEED_FAILED')) warnings.push(error) })
  const sources = new Set<string>()
  torrent.on('peer-connected', ({ peer }) => { sources.add(`${peer.source} ${peer.address}`) })
  return { torrent, dir, warnings, sources }
}

function rangeRequests (s: WebSeedServer): number {
  return s.log.filter((l) => l.range !== null).length
}

describe('web seeds over HTTP on 127.0.0.1 (the seed is the only source)', () => {
  it('single file: the URL is the file; byte-identical, listed as a webseed source', async () => {
    const f = await fixture('single', 'v1', ([s]) => [`${s!.baseUrl}payload.bin`])
    const { torrent, dir, sources } = await leech(f.torrentBytes)
    await waitCompleted(torrent, 30_000)
    expect(await digestTree(join(dir, f.name))).toEqual(await digestTree(join(f.root, f.name)))
    expect([...sources]).toEqual([`webseed ${f.servers[0]!.baseUrl}payload.bin`])
    expect(torrent.stats().downloadedBytes).toBe(SINGLE_FILE_BYTES)
    // Whole-piece runs of up to 2 MiB: one file of 1.3 MB takes a handful of requests, not one per block.
    expect(rangeRequests(f.servers[0]!)).toBeLessThanOrEqual(8)
    expect(f.servers[0]!.log.every((l) => l.status === 206)).toBe(true)
  })

  it('hybrid multi-file tree with a unicode name and spaces: byte-identical, pads never requested', async () => {
    const f = await fixture('tree', 'hybrid', ([s]) => [s!.baseUrl])
    const { torrent, dir } = await leech(f.torrentBytes)
    await waitCompleted(torrent, 30_000)
    expect(await digestTree(join(dir, f.name))).toEqual(await digestTree(join(f.root, f.name)))
    const paths = new Set(f.servers[0]!.log.map((l) => decodeURIComponent(l.path)))
    for (const p of Object.keys(TREE)) expect(paths.has(`/files/${TREE_NAME}/${p}`), p).toBe(true)
    expect([...paths].every((p) => !p.includes('.pad'))).toBe(true)
    // Percent-encoded on the wire: a space is %20, never '+'.
    expect(f.servers[0]!.log.some((l) => l.path.includes('dir%20with%20space/'))).toBe(true)
  })

  it('the CLI downloads the tree from the web seed alone and says so', async () => {
    const f = await fixture('tree', 'v1', ([s]) => [s!.baseUrl])
    const out = await tempDir()
    const started = Date.now()
    const run = await new Promise<{ code: number | null, stdout: string, stderr: string }>((resolve) => {
      execFile(process.execPath, [CLI, 'download', f.torrentPath, '-o', out, '--port', '0', '--host', '127.0.0.1', '--json', '--exit-on-complete'],
        { timeout: 60_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
          resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : null, stdout, stderr })
        })
    })
    const seconds = (Date.now() - started) / 1000
    expect(run.stderr).toBe('')
    expect(run.code).toBe(0)
    expect(await digestTree(join(out, f.name))).toEqual(await digestTree(join(f.root, f.name)))
    const events = run.stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(events.find((e) => e.type === 'peer-connected')).toMatchObject({ address: f.servers[0]!.baseUrl, source: 'webseed' })
    expect(events.filter((e) => e.type === 'stats').some((e) => e.webSeeds === 1)).toBe(true)
    expect(events.at(-1)).toMatchObject({ type: 'exit', code: 0, reason: 'completed' })
    console.log(`CLI web seed download of ${Object.values(TREE).reduce((a, b) => a + b)} bytes: ${seconds.toFixed(2)} s wall, process start to exit`)
  })

  it('503 with Retry-After, then the mirror recovers: waits, resumes, completes', async () => {
    const f = await fixture('single', 'v1', ([s]) => [`${s!.baseUrl}payload.bin`])
    f.servers[0]!.fail503 = 3
    f.servers[0]!.retryAfterSec = 1
    const started = Date.now()
    const { torrent, dir, warnings } = await leech(f.torrentBytes)
    await waitCompleted(torrent, 30_000)
    expect(await digestTree(join(dir, f.name))).toEqual(await digestTree(join(f.root, f.name)))
    expect(f.servers[0]!.log.filter((l) => l.status === 503)).toHaveLength(3)
    expect(warnings.length).toBeGreaterThanOrEqual(1)
    expect(warnings.every((w) => hasCode(w, 'WEBSEED_FAILED') && w.details.kind === 'transient' && !w.details.dropped)).toBe(true)
    // Retry-After: 1 was honoured (not hammered, not the 2 s default back-off doubled three times).
    expect(Date.now() - started).toBeGreaterThanOrEqual(900)
  })

  it('a magnet\'s ws= adds the web seed: metadata from a (slow) Lodestone peer, the payload mostly over HTTP', async () => {
    // A torrent without url-list: the web seed is known from the magnet only.
    const f = await fixture('single', 'v1', () => [])
    const meta = await parseTorrent(f.torrentBytes)
    expect(meta.urlList).toEqual([])
    const seederEngine = createNodeEngine({ downloadPath: f.root, port: 0, host: '127.0.0.1', hasherWorkers: 2, logLevel: 'off' })
    engines.push(seederEngine)
    const seederPort = await seederEngine.listen()
    const seeder = await seederEngine.addTorrent(f.torrentBytes, { downloadPath: f.root, settings: { uploadRateBytesPerSec: 64 * 1024 } })
    await waitCompleted(seeder, 20_000)
    const url = `${f.servers[0]!.baseUrl}payload.bin`
    const magnet = buildMagnet({ infoHashV1: meta.infoHashV1, displayName: 'payload.bin', webSeeds: [url], peers: [{ host: '127.0.0.1', port: seederPort! }] })
    const dir = await tempDir()
    const engine = createNodeEngine({ downloadPath: dir, port: 0, host: '127.0.0.1', hasherWorkers: 2, logLevel: 'off' })
    engines.push(engine)
    const torrent = await engine.addTorrent(magnet, { downloadPath: dir })
    const sources = new Set<string>()
    torrent.on('peer-connected', ({ peer }) => { sources.add(`${peer.source} ${peer.address}`) })
    await waitCompleted(torrent, 30_000)
    expect(await digestTree(join(dir, f.name))).toEqual(await digestTree(join(f.root, f.name)))
    expect(sources.has(`webseed ${url}`)).toBe(true)
    expect(f.servers[0]!.sentBytes).toBeGreaterThan(SINGLE_FILE_BYTES / 2)
  })

  it('a redirecting URL is followed', async () => {
    const f = await fixture('single', 'v1', ([s]) => [`http://127.0.0.1:${s!.port}/redirect/payload.bin`])
    const { torrent, dir } = await leech(f.torrentBytes)
    await waitCompleted(torrent, 30_000)
    expect(await digestTree(join(dir, f.name))).toEqual(await digestTree(join(f.root, f.name)))
    expect(f.servers[0]!.log.some((l) => l.status === 302)).toBe(true)
  })

  it('short bodies are refused and the pieces fetched again', async () => {
    const f = await fixture('single', 'v1', ([s]) => [`${s!.baseUrl}payload.bin`])
    f.servers[0]!.shortBy = 1_000
    f.servers[0]!.shortCount = 2
    const { torrent, dir, warnings } = await leech(f.torrentBytes)
    await waitCompleted(torrent, 30_000)
    expect(await digestTree(join(dir, f.name))).toEqual(await digestTree(join(f.root, f.name)))
    expect(warnings.some((w) => hasCode(w, 'WEBSEED_FAILED') && w.details.kind === 'bad-response' && /short body/.test(w.details.reason))).toBe(true)
    expect(torrent.stats().hashFailures).toBe(0)
  })
})

describe('a web seed serving wrong bytes', () => {
  it('is detected by hash, dropped, and an honest mirror completes the download', async () => {
    const f = await fixture('single', 'v1', (s) => s.map((x) => `${x.baseUrl}payload.bin`), 2)
    const [bad, good] = f.servers as [WebSeedServer, WebSeedServer]
    bad.corrupt = true
    const badUrl = `${bad.baseUrl}payload.bin`
    const { torrent, dir, warnings } = await leech(f.torrentBytes)
    const failedFrom: string[][] = []
    torrent.on('hash-failed', ({ peers }) => { failedFrom.push(peers) })
    await waitCompleted(torrent, 60_000)
    expect(await digestTree(join(dir, f.name))).toEqual(await digestTree(join(f.root, f.name)))
    expect(failedFrom.length).toBeGreaterThanOrEqual(2)
    expect(failedFrom.every((p) => p.length === 1 && p[0] === badUrl)).toBe(true)
    expect(warnings.some((w) => hasCode(w, 'WEBSEED_FAILED') && w.details.url === badUrl && w.details.dropped && w.details.kind === 'bad-data')).toBe(true)
    expect(good.sentBytes).toBeGreaterThan(0)
    expect(torrent.stats().bannedPeers).toBe(0)
  })

  it('as the only source: dropped after its bad pieces, nothing accepted, the torrent says why', async () => {
    const f = await fixture('single', 'v1', ([s]) => [`${s!.baseUrl}payload.bin`])
    f.servers[0]!.corrupt = true
    const { torrent, warnings } = await leech(f.torrentBytes)
    await pollUntil(() => warnings.some((w) => hasCode(w, 'WEBSEED_FAILED') && w.details.dropped), 20_000, 'the bad web seed to be dropped')
    const requestsAtDrop = rangeRequests(f.servers[0]!)
    await new Promise((resolve) => setTimeout(resolve, 1_500))
    const s = torrent.stats()
    expect(s.havePieces).toBe(0)
    expect(s.hashFailures).toBeGreaterThanOrEqual(2)
    expect(s.webSeeds).toBe(0)
    expect(torrent.peers()).toEqual([])
    expect(torrent.state).toBe('downloading')
    // Resting: no more requests (the cool-down is 30 minutes by default).
    expect(rangeRequests(f.servers[0]!)).toBe(requestsAtDrop)
    const dropped = warnings.find((w) => hasCode(w, 'WEBSEED_FAILED') && w.details.dropped)!
    expect(dropped.message).toMatch(/failed its hash check \(dropped\)/)
  })
})
