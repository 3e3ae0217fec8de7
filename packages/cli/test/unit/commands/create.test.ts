import { describe, it, expect, afterAll } from 'vitest'
import { readFileSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { parseTorrent, createTorrent } from '@lodestone/engine'
import { bencodeDecode } from '@lodestone/engine/protocol'
import { NodeFileSystem, NodeHasher } from '@lodestone/engine/adapters/node'
import { runCli, tempTree, payload, expectOneErrorLine } from '../../helpers.js'

const tree = tempTree({
  'share/a.bin': payload(70_000, 1),
  'share/sub/b.txt': payload(5, 2),
  'share/sub/zero': new Uint8Array(0),
  'share/ünïcode ☃.dat': payload(1, 3),
  'single.bin': payload(100_000, 4)
}, ['emptydir'])
afterAll(() => { tree.cleanup() })

const hex = (b: Uint8Array | null): string | null => (b === null ? null : Buffer.from(b).toString('hex'))

describe('lodestone create', () => {
  it('creates a hybrid torrent of a directory by default, with the requested fields', async () => {
    const out = join(tree.dir, 'share.torrent')
    const run = await runCli(['create', join(tree.dir, 'share'), '-o', out, '--piece-length', '16k',
      '--tracker', 'http://127.0.0.1:6969/announce,http://127.0.0.1:6970/announce', '--tracker', 'udp://127.0.0.1:6969',
      '--web-seed', 'http://127.0.0.1:8080/files/', '--private', '--comment', 'a comment', '--creator', 'me', '--source', 'SRC'])
    expect(run.stderr).toBe('')
    expect(run.code).toBe(0)
    const meta = await parseTorrent(new Uint8Array(readFileSync(out)))
    expect(run.stdout).toContain(`v1 ${hex(meta.infoHashV1)!}`)
    expect(run.stdout).toContain(`v2 ${hex(meta.infoHashV2)!}`)
    expect(meta.version).toBe('hybrid')
    expect(meta.name).toBe('share')
    expect(meta.pieceLengthBytes).toBe(16_384)
    expect(meta.files.filter((f) => !f.padding).map((f) => f.path.join('/'))).toEqual(['a.bin', 'sub/b.txt', 'sub/zero', 'ünïcode ☃.dat'])
    expect(meta.announce).toEqual([['http://127.0.0.1:6969/announce', 'http://127.0.0.1:6970/announce'], ['udp://127.0.0.1:6969']])
    expect(meta.urlList).toEqual(['http://127.0.0.1:8080/files/'])
    expect(meta.private).toBe(true)
    expect(meta.comment).toBe('a comment')
    expect(meta.createdBy).toBe('me')
    expect(meta.source).toBe('SRC')
    expect(typeof meta.creationDate).toBe('number')
    expect(Math.abs(meta.creationDate! - Date.now() / 1000)).toBeLessThan(600)
  })

  it('gives the same info hashes as the library and identical bytes with --no-date', async () => {
    const a = join(tree.dir, 'a.torrent')
    const b = join(tree.dir, 'b.torrent')
    for (const out of [a, b]) {
      const run = await runCli(['create', join(tree.dir, 'share'), '-o', out, '--no-date', '--creator', 'x'])
      expect(run.code).toBe(0)
    }
    const bytes = readFileSync(a)
    expect(Buffer.compare(bytes, readFileSync(b))).toBe(0)
    const root = bencodeDecode(new Uint8Array(bytes)) as Map<string, unknown>
    expect(root.has('creation date')).toBe(false)
    const hasher = new NodeHasher()
    try {
      const lib = await createTorrent('share', { createdBy: 'x' }, { fs: new NodeFileSystem(tree.dir), hasher })
      expect(Buffer.compare(bytes, lib.torrent)).toBe(0)
    } finally {
      await hasher.close()
    }
  })

  it('--v1 / --v2 / --hybrid choose the kind; a single file keeps its name', async () => {
    for (const kind of ['v1', 'v2', 'hybrid'] as const) {
      const out = join(tree.dir, `single-${kind}.torrent`)
      const run = await runCli(['create', join(tree.dir, 'single.bin'), '-o', out, `--${kind}`, '--piece-length', '32768'])
      expect(run.code).toBe(0)
      const meta = await parseTorrent(new Uint8Array(readFileSync(out)))
      expect(meta.version).toBe(kind)
      expect(meta.name).toBe('single.bin')
      expect(meta.pieceCount).toBe(4)
      expect(meta.infoHashV1 === null).toBe(kind === 'v2')
      expect(meta.infoHashV2 === null).toBe(kind === 'v1')
    }
  })

  it('refuses wrong usage with one line and exit 2', async () => {
    const out = join(tree.dir, 'never.torrent')
    const cases: Array<[string[], string]> = [
      [['create', join(tree.dir, 'share')], "required option '-o, --output <file>'"],
      [['create', join(tree.dir, 'share'), '-o', out, '--v1', '--v2'], 'choose one of --v1, --v2, --hybrid'],
      [['create', join(tree.dir, 'share'), '-o', out, '--piece-length', '20000'], 'power of two'],
      [['create', join(tree.dir, 'share'), '-o', out, '--piece-length', 'big'], '--piece-length'],
      [['create', join(tree.dir, 'share'), '-o', out, '--tracker', 'not a url'], 'not a URL'],
      [['create', join(tree.dir, 'share'), '-o', out, '--web-seed', 'udp://x:1'], 'web seed URL must use http, https']
    ]
    for (const [args, text] of cases) {
      const run = await runCli(args)
      expect(run.code, args.join(' ')).toBe(2)
      expect(expectOneErrorLine(run)).toContain(text)
    }
    expect(existsSync(out)).toBe(false)
  })

  it('refuses bad input with one line naming the path and exit 1', async () => {
    const out = join(tree.dir, 'never.torrent')
    const missing = await runCli(['create', join(tree.dir, 'nope'), '-o', out])
    expect(missing.code).toBe(1)
    expect(expectOneErrorLine(missing)).toBe(`lodestone: cannot create a torrent from ${join(tree.dir, 'nope')}: no such file or directory`)
    const empty = await runCli(['create', join(tree.dir, 'emptydir'), '-o', out])
    expect(empty.code).toBe(1)
    expect(expectOneErrorLine(empty)).toContain('the directory holds no files')
    const unwritable = await runCli(['create', join(tree.dir, 'single.bin'), '-o', join(tree.dir, 'no/such/dir/x.torrent')])
    expect(unwritable.code).toBe(1)
    expect(expectOneErrorLine(unwritable)).toContain('cannot write')
    expect(existsSync(out)).toBe(false)
  })
})
