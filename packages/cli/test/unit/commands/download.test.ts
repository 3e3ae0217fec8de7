/**
 * `lodestone download` and `lodestone seed` as subprocesses over loopback TCP: against an
 * in-process Lodestone seeder, against each other, interrupted by SIGINT (exit 3, then a second
 * run resumes from the data on disk), and refusing bad input with one stderr line.
 */
import { describe, it, expect, beforeAll, afterAll, afterEach } from 'vitest'
import { readFileSync, readdirSync, writeFileSync, mkdtempSync, rmSync, existsSync } from 'node:fs'
import { execFile } from 'node:child_process'
import { createServer, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createTorrent, parseTorrent, type BtEngine, type Torrent } from '@lodestone/engine'
import { NodeFileSystem, NodeHasher } from '@lodestone/engine/adapters/node'
import { createNodeEngine } from '@lodestone/engine/presets/node'
import { CLI_BIN, runCli, tempTree, payload, expectOneErrorLine, spawnCli, parseJsonLines, type CliProcess } from '../../helpers.js'

const FILES: Record<string, Uint8Array> = {
  'share/a.bin': payload(700_000, 1),
  'share/sub/b.txt': payload(5, 2),
  'share/sub/zero': new Uint8Array(0),
  'share/c.bin': payload(300_001, 3)
}
const tree = tempTree(FILES)
const torrentPath = join(tree.dir, 'share.torrent')
/** The same files as a v1 torrent (another info hash), for magnets: its fetched metadata parses on its own. */
const v1Path = join(tree.dir, 'share-v1.torrent')
let v1Id = ''
let seeder: BtEngine
let seederPort = 0
let httpServer: Server
let httpPort = 0

async function waitSeeding (t: Torrent): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    if (t.state === 'seeding') resolve()
    t.on('state-changed', ({ to }) => { if (to === 'seeding') resolve() })
    t.on('error', ({ error }) => { reject(error) })
  })
}

beforeAll(async () => {
  const hasher = new NodeHasher()
  try {
    const made = await createTorrent('share', { pieceLengthBytes: 16_384, kind: 'hybrid' }, { fs: new NodeFileSystem(tree.dir), hasher })
    writeFileSync(torrentPath, made.torrent)
    const v1 = await createTorrent('share', { pieceLengthBytes: 16_384, kind: 'v1' }, { fs: new NodeFileSystem(tree.dir), hasher })
    writeFileSync(v1Path, v1.torrent)
    v1Id = Buffer.from(v1.infoHashV1!).toString('hex')
  } finally {
    await hasher.close()
  }
  seeder = createNodeEngine({ downloadPath: tree.dir, port: 0, host: '127.0.0.1', hasherWorkers: 1, logLevel: 'off' })
  const t = await seeder.addTorrent(new Uint8Array(readFileSync(torrentPath)))
  const t1 = await seeder.addTorrent(new Uint8Array(readFileSync(v1Path)))
  await Promise.all([waitSeeding(t), waitSeeding(t1)])
  seederPort = seeder.port!
  httpServer = createServer((req, res) => {
    if (req.url === '/share.torrent') {
      res.writeHead(200, { 'content-type': 'application/x-bittorrent' })
      res.end(readFileSync(torrentPath))
    } else {
      res.writeHead(404)
      res.end()
    }
  })
  await new Promise<void>((resolve) => { httpServer.listen(0, '127.0.0.1', resolve) })
  httpPort = (httpServer.address() as { port: number }).port
})

afterAll(async () => {
  await seeder?.close()
  await new Promise<void>((resolve) => { httpServer?.close(() => { resolve() }) })
  tree.cleanup()
})

const dirs: string[] = []
const procs: CliProcess[] = []
const engines: BtEngine[] = []
afterEach(async () => {
  for (const p of procs.splice(0)) p.kill()
  await Promise.all(engines.splice(0).map(async (e) => { await e.close() }))
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

function outDir (): string {
  const d = mkdtempSync(join(tmpdir(), 'lodestone-dl-'))
  dirs.push(d)
  return d
}

function expectSameFiles (dir: string): void {
  for (const [path, data] of Object.entries(FILES)) {
    const got = readFileSync(join(dir, path))
    expect(Buffer.compare(got, data), path).toBe(0)
  }
}

const LOOPBACK = ['--port', '0', '--host', '127.0.0.1']

describe('lodestone download', { timeout: 60_000 }, () => {
  it('downloads from a Lodestone seeder with --peer --json --exit-on-complete: exit 0, identical files, JSON events', async () => {
    const dir = outDir()
    const run = await runCli(['download', torrentPath, '-o', dir, '--peer', `127.0.0.1:${seederPort}`, ...LOOPBACK, '--json', '--exit-on-complete'])
    expect(run.stderr).toBe('')
    expect(run.code).toBe(0)
    expectSameFiles(dir)
    const events = parseJsonLines(run.stdout.split('\n'))
    const types = events.map((e) => e.type)
    expect(types[0]).toBe('started')
    expect(types).toContain('stats')
    expect(types).toContain('completed')
    expect(types).toContain('peer-connected')
    expect(types.at(-1)).toBe('exit')
    expect(events.at(-1)).toMatchObject({ code: 0, reason: 'completed' })
    for (const e of events) expect(typeof e.time).toBe('number')
    const pieces = events.filter((e) => e.type === 'piece-verified').flatMap((e) => e.pieces as number[])
    expect(new Set(pieces).size).toBe(events[0]!.pieceCount)
    const lastStats = events.filter((e) => e.type === 'stats').at(-1)!
    expect(lastStats).toMatchObject({ progress: 1, verifiedBytes: lastStats.totalBytes, havePieces: events[0]!.pieceCount })
    expect(events.some((e) => e.type === 'state-changed' && e.to === 'downloading')).toBe(true)
  })

  it('fetches the .torrent over http and downloads with a rate limit and --sequential', async () => {
    const dir = outDir()
    const run = await runCli(['download', `http://127.0.0.1:${httpPort}/share.torrent`, '-o', dir, '--peer', `127.0.0.1:${seederPort}`,
      ...LOOPBACK, '--exit-on-complete', '--sequential', '--max-down', '4M', '--max-up', '1M'])
    expect(run.stderr).toBe('')
    expect(run.code).toBe(0)
    expectSameFiles(dir)
    // stdout is a pipe, not a terminal: JSON lines even without --json.
    expect(parseJsonLines(run.stdout.split('\n')).some((e) => e.type === 'completed')).toBe(true)
  })

  it('exits 3 on SIGINT before completing (one stderr line, exit event), and a second run resumes from the data on disk', async () => {
    const dir = outDir()
    // 16 KiB/s: the 1 MB torrent cannot finish before the signal.
    const p = spawnCli(['download', torrentPath, '-o', dir, '--peer', `127.0.0.1:${seederPort}`, ...LOOPBACK, '--json', '--max-down', '64k', '--no-state'])
    procs.push(p)
    await p.waitForLine((l) => l.includes('"piece-verified"'))
    p.child.kill('SIGINT')
    const code = await p.exited
    expect(code).toBe(3)
    expect(p.stderr().trim().split('\n')).toHaveLength(1)
    expect(p.stderr()).toMatch(/^lodestone: interrupted before the download completed: .* \(run again to resume\)\n$/)
    const events = parseJsonLines(p.lines)
    expect(events.at(-1)).toMatchObject({ type: 'exit', code: 3 })
    expect(events.some((e) => e.type === 'state-changed' && e.to === 'stopped')).toBe(true)

    const again = await runCli(['download', torrentPath, '-o', dir, '--peer', `127.0.0.1:${seederPort}`, ...LOOPBACK, '--json', '--exit-on-complete', '--no-state'])
    expect(again.code).toBe(0)
    const resumed = parseJsonLines(again.stdout.split('\n'))
    expect(resumed.find((e) => e.type === 'checked')?.havePieces).toBeGreaterThan(0)
    const final = resumed.filter((e) => e.type === 'stats').at(-1)!
    expect(final.downloadedBytes).toBeLessThan(final.totalBytes as number)
    expectSameFiles(dir)
  })

  it('--state-dir keeps resume data per torrent; a second run restores it and fetches only the rest', async () => {
    const dir = outDir()
    const state = outDir()
    const p = spawnCli(['download', torrentPath, '-o', dir, '--peer', `127.0.0.1:${seederPort}`, ...LOOPBACK, '--json', '--max-down', '64k', '--state-dir', state])
    procs.push(p)
    const started = JSON.parse(await p.waitForLine((l) => l.includes('"started"'))) as { infoHash: string, stateDir: string }
    expect(started.stateDir).toBe(join(state, started.infoHash))
    await p.waitForLine((l) => l.includes('"piece-verified"'))
    p.child.kill('SIGTERM')
    expect(await p.exited).toBe(3)
    expect(readdirSync(join(state, started.infoHash)).length).toBeGreaterThan(0)

    const again = await runCli(['download', torrentPath, '-o', dir, '--peer', `127.0.0.1:${seederPort}`, ...LOOPBACK, '--json', '--exit-on-complete', '--state-dir', state])
    expect(again.stderr).toBe('')
    expect(again.code).toBe(0)
    const final = parseJsonLines(again.stdout.split('\n')).filter((e) => e.type === 'stats').at(-1)!
    expect(final.downloadedBytes).toBeLessThan(final.totalBytes as number)
    expectSameFiles(dir)
  })

  it('--state-dir: a torrent restored paused (e.g. by a seed limit last time) is resumed and completes', async () => {
    const dir = outDir()
    const state = outDir()
    const bytes = new Uint8Array(readFileSync(torrentPath))
    const id = (await parseTorrent(bytes)).id
    const before = createNodeEngine({ downloadPath: dir, port: 0, host: '127.0.0.1', hasherWorkers: 1, logLevel: 'off', stateDir: join(state, id) })
    engines.push(before)
    const t = await before.addTorrent(bytes, { downloadPath: dir })
    await new Promise<void>((resolve) => {
      if (t.state === 'downloading') resolve()
      t.on('state-changed', ({ to }) => { if (to === 'downloading') resolve() })
    })
    t.pause()
    await before.close()

    const run = await runCli(['download', torrentPath, '-o', dir, '--peer', `127.0.0.1:${seederPort}`, ...LOOPBACK, '--json', '--exit-on-complete', '--state-dir', state])
    expect(run.stderr).toBe('')
    expect(run.code).toBe(0)
    expectSameFiles(dir)
    const events = parseJsonLines(run.stdout.split('\n'))
    expect(events.at(-1)).toMatchObject({ type: 'exit', code: 0, reason: 'completed' })
  }, 30_000)

  it('downloads from a magnet link (metadata from the peer), and --metadata-only writes the .torrent', async () => {
    const magnet = `magnet:?xt=urn:btih:${v1Id}&dn=share`
    const dir = outDir()
    const run = await runCli(['download', magnet, '-o', dir, '--peer', `127.0.0.1:${seederPort}`, ...LOOPBACK, '--json', '--exit-on-complete'])
    expect(run.stderr).toBe('')
    expect(run.code).toBe(0)
    expectSameFiles(dir)
    const events = parseJsonLines(run.stdout.split('\n'))
    expect(events[0]).toMatchObject({ type: 'started', infoHash: v1Id, totalBytes: null })
    expect(events.find((e) => e.type === 'metadata')).toMatchObject({ name: 'share', files: 4 })

    const out = join(outDir(), 'fetched.torrent')
    const meta = await runCli(['download', magnet, '--metadata-only', '-o', out, '--peer', `127.0.0.1:${seederPort}`, ...LOOPBACK, '--json'])
    expect(meta.stderr).toBe('')
    expect(meta.code).toBe(0)
    expect(JSON.parse(meta.stdout)).toMatchObject({ type: 'metadata-saved', infoHash: v1Id, name: 'share' })
    expect((await parseTorrent(new Uint8Array(readFileSync(out)))).id).toBe(v1Id)
  })

  it('--select downloads only the chosen files', async () => {
    const dir = outDir()
    // Files as `lodestone info` lists them: 0 a.bin, 1 c.bin, 2 sub/b.txt, 3 sub/zero.
    const run = await runCli(['download', torrentPath, '-o', dir, '--peer', `127.0.0.1:${seederPort}`, ...LOOPBACK, '--json', '--exit-on-complete', '--select', '0,2'])
    expect(run.stderr).toBe('')
    expect(run.code).toBe(0)
    expect(Buffer.compare(readFileSync(join(dir, 'share/a.bin')), FILES['share/a.bin']!)).toBe(0)
    expect(Buffer.compare(readFileSync(join(dir, 'share/sub/b.txt')), FILES['share/sub/b.txt']!)).toBe(0)
    expect(existsSync(join(dir, 'share/c.bin'))).toBe(false)
    const final = parseJsonLines(run.stdout.split('\n')).filter((e) => e.type === 'stats').at(-1)!
    expect(final.downloadedBytes).toBeLessThan(1_000_000)
  })

  it('exits 0 on SIGTERM when already complete (data found on disk, seeding)', async () => {
    const p = spawnCli(['download', torrentPath, '-o', tree.dir, ...LOOPBACK, '--json'])
    procs.push(p)
    await p.waitForLine((l) => l.includes('"completed"'))
    p.child.kill('SIGTERM')
    expect(await p.exited).toBe(0)
    expect(p.stderr()).toBe('')
    expect(parseJsonLines(p.lines).at(-1)).toMatchObject({ type: 'exit', code: 0 })
  })

  it('refuses bad input and usage with one stderr line and a non-zero exit', async () => {
    const dir = outDir()
    const garbage = join(dir, 'garbage.torrent')
    writeFileSync(garbage, 'd4:infoi3ee')
    const cases: Array<[string[], number, string | RegExp]> = [
      [['download', join(dir, 'missing.torrent'), '-o', dir], 1, 'no such file'],
      [['download', garbage, '-o', dir], 1, 'garbage.torrent: '],
      [['download', torrentPath, '-o', dir, '--peer', 'localhost'], 2, 'is not HOST:PORT'],
      [['download', torrentPath, '-o', dir, '--peer', '127.0.0.1:70000'], 2, 'outside 1-65535'],
      [['download', torrentPath, '-o', dir, '--max-down', 'fast'], 2, 'is not a rate'],
      [['download', torrentPath, '-o', dir, '--max-up', '5 parsecs'], 2, 'is not a rate'],
      [['download', torrentPath, '-o', dir, '--port', '-1'], 2, '--port'],
      [['download', torrentPath, '-o', dir, '--select', '1-x'], 2, '--select "1-x"'],
      [['download', torrentPath, '-o', dir, '--select', '0,9', ...LOOPBACK], 2, 'file index 9 is out of range (the torrent has 4 files, 0-3)'],
      [['download', torrentPath, '-o', join(dir, 'x.torrent'), '--metadata-only'], 2, '--metadata-only needs a magnet link'],
      [['download', torrentPath, '-o', dir, '--state-dir', dir, '--no-state'], 2, 'contradict'],
      [['download', `http://127.0.0.1:${httpPort}/nope.torrent`, '-o', dir], 1, 'HTTP 404'],
      [['download', 'ftp://example.invalid/x.torrent', '-o', dir], 2, 'only http and https'],
      [['download', 'magnet:?xt=urn:btih:zzz', '-o', dir], 1, 'invalid magnet link'],
      [['seed', torrentPath, '-d', join(dir, 'nope')], 1, 'no such directory'],
      [['seed', torrentPath], 2, "required option '-d, --dir <dir>'"]
    ]
    const runs = await Promise.all(cases.map(async ([args]) => runCli(args)))
    for (const [i, [args, code, text]] of cases.entries()) {
      const run = runs[i]!
      expect(run.code, args.join(' ')).toBe(code)
      const line = expectOneErrorLine(run)
      if (typeof text === 'string') expect(line, args.join(' ')).toContain(text)
      else expect(line).toMatch(text)
    }
    expect(existsSync(join(dir, 'share'))).toBe(false)
  }, 60_000) // 17 CLI processes

  it('on a terminal: a status line redrawn in place and a completion line (run under script(1) for a pty)', async () => {
    const dir = outDir()
    const command = [process.execPath, CLI_BIN, 'download', torrentPath, '-o', dir, '--peer', `127.0.0.1:${seederPort}`, ...LOOPBACK, '--exit-on-complete', '--no-state', '--max-down', '1M']
      .map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ')
    const out = await new Promise<{ code: number, stdout: string }>((resolve, reject) => {
      execFile('script', ['-qec', command, '/dev/null'], { timeout: 45_000 }, (err, stdout) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null
        if (code === null) reject(err ?? new Error('script failed'))
        else resolve({ code, stdout })
      })
    })
    expect(out.code).toBe(0)
    expectSameFiles(dir)
    expect(out.stdout).toMatch(/^downloading "share" \(.*\) to /)
    expect(out.stdout).toMatch(/\r\u001b\[K +\d+\.\d% (downloading|hashing|starting) +down /)
    expect(out.stdout).toMatch(/\r\u001b\[Kcompleted "share": .* verified/)
    expect(out.stdout).not.toContain('{"type"')
  })

  it('--ip-filter: a list denying the seeder blocks it (peer-blocked, no piece); a .p2p list that does not cover it lets the download finish; a bad list is one stderr line, exit 1', async () => {
    const lists = outDir()
    const dat = join(lists, 'ipfilter.dat')
    writeFileSync(dat, '# loopback\n127.000.000.000 - 127.000.000.255 , 000 , loopback\n')
    const p2p = join(lists, 'level1.p2p')
    writeFileSync(p2p, 'Some range:10.0.0.0-10.255.255.255\nOther: with colon:192.168.0.0-192.168.255.255\n')
    const bad = join(lists, 'bad.dat')
    writeFileSync(bad, '127.0.0.1 - 127.0.0.9 , 000 , ok\nthis is not a range\n')

    const dir = outDir()
    const p = spawnCli(['download', torrentPath, '-o', dir, '--peer', `127.0.0.1:${seederPort}`, ...LOOPBACK, '--json', '--no-state', '--ip-filter', dat])
    procs.push(p)
    const blocked = JSON.parse(await p.waitForLine((l) => l.includes('"peer-blocked"'))) as Record<string, unknown>
    expect(blocked).toMatchObject({ type: 'peer-blocked', address: `127.0.0.1:${seederPort}`, direction: 'outgoing', reason: 'ip-filter' })
    p.child.kill('SIGINT')
    expect(await p.exited).toBe(3)
    const events = parseJsonLines(p.lines)
    expect(events.some((e) => e.type === 'piece-verified' || e.type === 'peer-connected' || e.type === 'completed')).toBe(false)

    const allowed = outDir()
    const ok = await runCli(['download', torrentPath, '-o', allowed, '--peer', `127.0.0.1:${seederPort}`, ...LOOPBACK, '--json', '--exit-on-complete', '--no-state', '--ip-filter', p2p])
    expect(ok.stderr).toBe('')
    expect(ok.code).toBe(0)
    expectSameFiles(allowed)

    const runs = await Promise.all([
      runCli(['download', torrentPath, '-o', dir, ...LOOPBACK, '--ip-filter', bad]),
      runCli(['download', torrentPath, '-o', dir, ...LOOPBACK, '--ip-filter', join(lists, 'missing.dat')]),
      runCli(['seed', torrentPath, '-d', tree.dir, ...LOOPBACK, '--ip-filter', bad])
    ])
    for (const run of runs) expect(run.code).toBe(1)
    expect(expectOneErrorLine(runs[0])).toContain(`${bad}: not an IP filter list (eMule .dat or PeerGuardian .p2p): line 2`)
    expect(expectOneErrorLine(runs[1])).toContain('missing.dat: no such file')
    expect(expectOneErrorLine(runs[2])).toContain(`${bad}: not an IP filter list`)
    for (const command of ['download', 'seed']) expect((await runCli([command, '--help'])).stdout).toContain('--ip-filter <file>')
  })

  it('lists exit codes in --help', async () => {
    const run = await runCli(['download', '--help'])
    expect(run.code).toBe(0)
    expect(run.stdout).toMatch(/Exit codes:\n\s+0 +complete/)
    expect(run.stdout).toMatch(/\n\s+3 +interrupted/)
  })
})

describe('lodestone seed', { timeout: 60_000 }, () => {
  it('serves a downloader, refuses incomplete data, and exits 0 on SIGINT', async () => {
    const p = spawnCli(['seed', torrentPath, '-d', tree.dir, ...LOOPBACK, '--json'])
    procs.push(p)
    const started = JSON.parse(await p.waitForLine((l) => l.includes('"started"'))) as { port: number }
    expect(started.port).toBeGreaterThan(0)
    await p.waitForLine((l) => l.includes('"to":"seeding"'))

    const dir = outDir()
    const leecher = createNodeEngine({ downloadPath: dir, port: 0, host: '127.0.0.1', hasherWorkers: 1, logLevel: 'off' })
    engines.push(leecher)
    const t = await leecher.addTorrent(new Uint8Array(readFileSync(torrentPath)), { peers: [`127.0.0.1:${started.port}`] })
    await new Promise<void>((resolve, reject) => {
      t.on('completed', () => { resolve() })
      t.on('error', ({ error }) => { reject(error) })
    })
    expectSameFiles(dir)
    await p.waitForLine((l) => l.includes('"peer-connected"'))

    p.child.kill('SIGINT')
    expect(await p.exited).toBe(0)
    expect(p.stderr()).toBe('')
    const events = parseJsonLines(p.lines)
    expect(events.at(-1)).toMatchObject({ type: 'exit', code: 0 })
    const stats = events.filter((e) => e.type === 'stats').at(-1)!
    expect(stats.uploadedBytes).toBeGreaterThanOrEqual(1_000_000)

    // Incomplete data: one line, exit 1.
    const partial = outDir()
    writeFileSync(join(partial, 'x'), 'x')
    const run = await runCli(['seed', torrentPath, '-d', partial, ...LOOPBACK, '--json'])
    expect(run.code).toBe(1)
    expect(run.stderr).toMatch(/^lodestone: .* does not hold the complete data of "share": 0 of \d+ pieces verified/)
  })

  it('CLI seeder → CLI downloader', async () => {
    const p = spawnCli(['seed', torrentPath, '-d', tree.dir, ...LOOPBACK, '--json', '--max-up', '0'])
    procs.push(p)
    const started = JSON.parse(await p.waitForLine((l) => l.includes('"started"'))) as { port: number }
    const dir = outDir()
    const run = await runCli(['download', torrentPath, '-o', dir, '--peer', `127.0.0.1:${started.port}`, ...LOOPBACK, '--json', '--exit-on-complete'])
    expect(run.code).toBe(0)
    expectSameFiles(dir)
    p.child.kill('SIGTERM')
    expect(await p.exited).toBe(0)
  })

  it('CLI super-seed (--super-seed) → CLI downloader: the downloader completes from offers', async () => {
    const p = spawnCli(['seed', torrentPath, '-d', tree.dir, ...LOOPBACK, '--json', '--super-seed'])
    procs.push(p)
    const started = JSON.parse(await p.waitForLine((l) => l.includes('"started"'))) as { port: number }
    const dir = outDir()
    const run = await runCli(['download', torrentPath, '-o', dir, '--peer', `127.0.0.1:${started.port}`, ...LOOPBACK, '--json', '--exit-on-complete'])
    expect(run.code).toBe(0)
    expectSameFiles(dir)
    p.child.kill('SIGTERM')
    expect(await p.exited).toBe(0)
  })
})
