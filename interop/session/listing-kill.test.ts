/**
 * SIGKILL while torrents are added and removed (issue 13: one `listed` key per torrent, the packed
 * store compacting under churn). A child engine on a durable state directory restores, then adds and
 * removes torrents at random (a few at once) and is killed after a random number of steps. After each
 * kill a restore of the same directory must bring back a consistent set: nothing fails; every torrent
 * whose add had returned (and whose removal had not begun) is back; nothing else is back except one whose
 * add or remove was in flight; and the records of torrents not restored are gone. The .torrent files
 * carry long url-lists so the churn fills the pack and it compacts during the run.
 */
import { spawn, execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PackedSessionStore } from '../../packages/engine/adapters/node/packed-session-store.js'
import { createNodeEngine } from '../../packages/engine/presets/node.js'
import { parseTorrent } from '../../packages/engine/src/metainfo/parse-torrent.js'
import { testingSettings } from '../../packages/engine/src/session/engine-settings.js'
import { SyncHasher, makeTorrent, payload } from '../../packages/engine/test/swarm/swarm-world.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const CHILD = fileURLToPath(new URL('./listing-kill-child.mjs', import.meta.url))
const N = 40
const ROUNDS = 5

let work = ''
const ids: string[] = []

beforeAll(async () => {
  execFileSync('npx', ['tsc', '-b'], { cwd: ROOT, stdio: 'pipe' })
  work = mkdtempSync(join(tmpdir(), 'lodestone-listing-kill-'))
  mkdirSync(join(work, 'torrents'))
  mkdirSync(join(work, 'data'))
  for (let i = 0; i < N; i++) {
    const urlList = Array.from({ length: 40 }, (_, k) => `http://127.0.0.1:9/${String(k).padStart(3, '0')}/${'x'.repeat(160)}`)
    const bytes = makeTorrent(`t${String(i).padStart(2, '0')}.bin`, payload(4096, i + 1), 16_384, { urlList })
    writeFileSync(join(work, 'torrents', `t${String(i).padStart(2, '0')}.torrent`), bytes)
    ids.push((await parseTorrent(bytes, { hasher: new SyncHasher() })).id)
  }
  writeFileSync(join(work, 'torrents', 'ids.json'), JSON.stringify(ids))
}, 180_000)

afterAll(() => { if (work !== '') rmSync(work, { recursive: true, force: true }) })

/** Runs the child until it has taken `steps` finished steps, then SIGKILLs it; every line it printed. */
async function runAndKill (seed: number, steps: number): Promise<string[]> {
  const child = spawn(process.execPath, [CHILD, join(ROOT, 'packages/engine/dist/presets/node.js'), join(ROOT, 'packages/engine/dist/src/index.js'),
    join(work, 'state'), join(work, 'data'), join(work, 'torrents'), String(seed)], { stdio: ['ignore', 'pipe', 'inherit'] })
  const lines: string[] = []
  let partial = ''
  let done = 0
  await new Promise<void>((resolve) => {
    child.stdout.on('data', (chunk: Buffer) => {
      const parts = (partial + chunk.toString('utf8')).split('\n')
      partial = parts.pop() ?? ''
      for (const line of parts) {
        lines.push(line)
        if (/^(added|removed) /.test(line) && ++done === steps) child.kill('SIGKILL')
      }
    })
    child.on('exit', () => { resolve() })
  })
  return lines
}

describe('SIGKILL during adds and removes', () => {
  it(`restores a consistent set after each of ${ROUNDS} kills, and deletes the leftovers`, async () => {
    let expected = new Set<string>()
    let compactions = 0
    let lastSize = 0
    for (let round = 0; round < ROUNDS; round++) {
      const lines = await runAndKill(round + 1, 40 + ((round * 37) % 80))
      const label = `round ${round}`
      expect(lines.filter((l) => /^(failed|warning) /.test(l)), label).toEqual([])
      const first = lines[0] ?? ''
      expect(first.startsWith('restored '), label).toBe(true)
      expect(new Set(first.slice('restored '.length).split(',').filter((s) => s !== '')), `${label}: the child restored what the last check restored`).toEqual(expected)
      const sure = new Set(expected)
      const maybe = new Set<string>()
      for (const line of lines.slice(1)) {
        const [what, id = ''] = line.split(' ')
        if (what === 'adding') maybe.add(id)
        else if (what === 'added') { sure.add(id); maybe.delete(id) } else if (what === 'removing') { sure.delete(id); maybe.add(id) } else if (what === 'removed') maybe.delete(id)
      }
      const engine = createNodeEngine({ downloadPath: join(work, 'data'), stateDir: join(work, 'state'), host: '127.0.0.1', port: 0, logLevel: 'off', hasherWorkers: 1, settings: testingSettings({ discovery: { trackers: false } }) })
      const { restored, failed } = await engine.restoreSession()
      await engine.close()
      expect(failed.map((f) => `${f.id}: ${f.error.message}`), label).toEqual([])
      const back = new Set(restored.map((t) => t.id))
      expect([...sure].filter((id) => !back.has(id)), `${label}: added and not removed, yet not restored`).toEqual([])
      expect([...back].filter((id) => !sure.has(id) && !maybe.has(id)), `${label}: restored though never added or already removed`).toEqual([])
      const store = new PackedSessionStore(join(work, 'state'), { durable: false })
      const recorded = new Set((await store.keys('torrent:')).map((k) => k.split(':')[1]!))
      await store.close()
      expect([...recorded].filter((id) => !back.has(id)), `${label}: records left of torrents not restored`).toEqual([])
      const size = statSync(join(work, 'state', 'session.pack')).size
      if (size < lastSize) compactions++
      lastSize = size
      expected = back
    }
    console.log(`listing-kill: ${ROUNDS} kills, ${compactions} rounds saw the pack shrink (compaction), last pack ${lastSize} B, ${expected.size} torrents`)
  }, 300_000)
})
