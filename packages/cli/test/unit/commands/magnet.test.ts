import { describe, it, expect, afterAll } from 'vitest'
import { join } from 'node:path'
import { parseMagnet } from '@lodestone/engine'
import { runCli, tempTree, payload, expectOneErrorLine } from '../../helpers.js'

const tree = tempTree({ 'f.bin': payload(40_000, 7) })
afterAll(() => { tree.cleanup() })

describe('lodestone magnet', () => {
  it('prints the magnet of a hybrid torrent: both hashes, name, trackers, web seeds', async () => {
    const torrent = join(tree.dir, 'f.torrent')
    const made = await runCli(['create', join(tree.dir, 'f.bin'), '-o', torrent, '--tracker', 'http://127.0.0.1:1/a', '--web-seed', 'http://127.0.0.1:2/f.bin'])
    expect(made.code).toBe(0)
    const run = await runCli(['magnet', torrent])
    expect(run.code).toBe(0)
    const lines = run.stdout.trim().split('\n')
    expect(lines).toHaveLength(1)
    const magnet = parseMagnet(lines[0]!)
    expect(made.stdout).toContain(Buffer.from(magnet.infoHashV1!).toString('hex'))
    expect(made.stdout).toContain(Buffer.from(magnet.infoHashV2!).toString('hex'))
    expect(magnet.displayName).toBe('f.bin')
    expect(magnet.trackers).toEqual(['http://127.0.0.1:1/a'])
    expect(magnet.webSeeds).toEqual(['http://127.0.0.1:2/f.bin'])
  })

  it('refuses a missing file with one line and exit 1', async () => {
    const run = await runCli(['magnet', join(tree.dir, 'none.torrent')])
    expect(run.code).toBe(1)
    expect(expectOneErrorLine(run)).toContain('no such file')
  })
})
