import { describe, it, expect, afterAll, beforeAll } from 'vitest'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { runCli, tempTree, payload, expectOneErrorLine } from '../../helpers.js'

const tree = tempTree({ 'data/x.bin': payload(50_000, 1), 'data/y/z.txt': payload(3, 2), 'data/e': new Uint8Array(0) })
const torrent = join(tree.dir, 'data.torrent')
let v1 = ''
let v2 = ''
beforeAll(async () => {
  const run = await runCli(['create', join(tree.dir, 'data'), '-o', torrent, '--piece-length', '16384', '--tracker', 'http://127.0.0.1:1/a', '--web-seed', 'http://127.0.0.1:2/', '--comment', 'c', '--creator', 'cr', '--no-date'])
  expect(run.code).toBe(0)
  v1 = /v1 ([0-9a-f]{40})/.exec(run.stdout)![1]!
  v2 = /v2 ([0-9a-f]{64})/.exec(run.stdout)![1]!
})
afterAll(() => { tree.cleanup() })

describe('lodestone info', () => {
  it('--json describes a torrent (padding excluded, indexed files, tiers)', async () => {
    const run = await runCli(['info', torrent, '--json'])
    expect(run.code).toBe(0)
    const info = JSON.parse(run.stdout) as Record<string, unknown>
    expect(info).toMatchObject({
      input: 'torrent',
      name: 'data',
      version: 'hybrid',
      infoHash: v1,
      infoHashV2: v2,
      pieceLength: 16384,
      pieceCount: 5,
      totalLength: 50_003,
      files: [{ index: 0, path: 'e', length: 0 }, { index: 1, path: 'x.bin', length: 50_000 }, { index: 2, path: 'y/z.txt', length: 3 }],
      trackers: [['http://127.0.0.1:1/a']],
      webSeeds: ['http://127.0.0.1:2/'],
      private: false,
      comment: 'c',
      createdBy: 'cr',
      creationDate: null,
      source: null
    })
  })

  it('prints a human summary', async () => {
    const run = await runCli(['info', torrent])
    expect(run.code).toBe(0)
    expect(run.stdout).toContain('name:        data')
    expect(run.stdout).toContain(v1)
    expect(run.stdout).toContain(v2)
    expect(run.stdout).toMatch(/1\s+48\.83 KiB\s+x\.bin/)
  })

  it('--json describes a magnet link', async () => {
    const magnet = `magnet:?xt=urn:btih:${v1}&xt=urn:btmh:1220${v2}&dn=data&tr=http%3A%2F%2F127.0.0.1%3A1%2Fa&tr=udp%3A%2F%2F127.0.0.1%3A2`
    const run = await runCli(['info', magnet, '--json'])
    expect(run.code).toBe(0)
    expect(JSON.parse(run.stdout)).toMatchObject({
      input: 'magnet', name: 'data', infoHash: v1, infoHashV2: v2, pieceLength: null, pieceCount: null, files: [],
      trackers: [['http://127.0.0.1:1/a'], ['udp://127.0.0.1:2']]
    })
  })

  it('refuses bad input with one line and exit 1', async () => {
    const garbage = join(tree.dir, 'garbage.torrent')
    writeFileSync(garbage, 'd4:infoi1ee')
    const cases: Array<[string, string]> = [
      [join(tree.dir, 'missing.torrent'), 'no such file'],
      [garbage, 'info'],
      [tree.dir, 'is a directory'],
      ['magnet:?xt=urn:btih:1234', 'invalid magnet link']
    ]
    for (const [arg, text] of cases) {
      const run = await runCli(['info', arg])
      expect(run.code, arg).toBe(1)
      expect(expectOneErrorLine(run)).toContain(text)
    }
  })
})
