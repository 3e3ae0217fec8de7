/**
 * Crash campaign, part 2 (issue 15): SIGKILL at chosen points of a storage move, of a session
 * save, and with the disk full, each against a real libtorrent 2.0.8 seeder (upload-capped so the
 * download outlasts the kills). The child (crash-child.mjs, the dist build's node preset
 * with a state directory) kills itself the moment it sees the point it was told to die at, so each
 * kill lands where it is meant to, not wherever a timer happened to fall.
 *
 * After every restart: every piece the engine starts with hashes correctly at the place it says its
 * files are (no bad piece counted as had), and it starts with every piece a save had confirmed
 * before the kill (no verified piece lost). Finally the download completes byte-identical, and a
 * clean restart resumes with every piece and no hashing.
 *
 * - moveStorage between a directory on disk and one on a tmpfs (/dev/shm: another device, so the
 *   files are copied, synced, then deleted): killed once the move marker is written (copying), with
 *   some files copied and others not (between files), and after the copy while the old files are
 *   deleted (copied); the next start finishes the move.
 * - a session save: killed while a record's temporary file is being written, and right after the
 *   save took its snapshot (syncing the data files).
 * - a full disk: download and state directories on an 8 MiB tmpfs mounted for the test (needs root,
 *   as CI runs) with a filler file, so writes fail with ENOSPC: the torrent stops with STORAGE_FULL
 *   naming a file, is killed, restarts on the still-full disk, is killed again, then completes once
 *   the filler is gone.
 *
 * `LODESTONE_CRASH_ROUNDS=N` repeats each case's list of kill points N times (default 1).
 */
import type { ChildProcess } from 'node:child_process'
import { execFileSync } from 'node:child_process'
import { randomInt } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statfsSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { badPiecesOnDisk, makeCrashContent, runNodeChild, startCappedSeeder, type ChildMessage, type CrashContent } from './crash-harness.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const PRESET = join(ROOT, 'packages/engine/dist/presets/node.js')
const CHILD = fileURLToPath(new URL('./crash-child.mjs', import.meta.url))
const ROUNDS = Number(process.env.LODESTONE_CRASH_ROUNDS ?? 1)
const SEED_RATE_BYTES_PER_SEC = 2_500_000

let work = ''
let shm = ''
let mounted = ''
let seeder: ChildProcess | null = null
let seederPort = 0
let content: CrashContent
const children = new Set<ChildProcess>()

beforeAll(async () => {
  execFileSync('npx', ['tsc', '-b'], { cwd: ROOT, stdio: 'pipe' })
  work = mkdtempSync(join(tmpdir(), 'lodestone-crash2-'))
  shm = mkdtempSync('/dev/shm/lodestone-crash2-')
  content = makeCrashContent('crash2', join(work, 'seed'), join(work, 'crash2.torrent'))
  const s = await startCappedSeeder(content.torrentPath, join(work, 'seed'), SEED_RATE_BYTES_PER_SEC)
  seeder = s.child
  seederPort = s.port
})

afterAll(() => {
  for (const c of children) c.kill('SIGKILL')
  seeder?.kill('SIGKILL')
  if (mounted !== '') execFileSync('umount', ['-l', mounted])
  for (const d of [work, shm]) if (d !== '') rmSync(d, { recursive: true, force: true })
})

interface Run { how: string, messages: ChildMessage[] }

/** One child run with `plan`; resolves with how it ended and everything it said. */
async function run (dirs: { downloadDir: string, stateDir: string }, plan: object, onMessage?: (msg: ChildMessage, child: ChildProcess) => void): Promise<Run> {
  const messages: ChildMessage[] = []
  const config = {
    presetPath: PRESET, torrentPath: content.torrentPath, seederPort, bitfieldSaveDelayMs: 200, plan, ...dirs,
    torrentName: content.name, fileNames: content.files.map((f) => f.path), fileSizes: content.files.map((f) => f.data.length)
  }
  const { exited } = runNodeChild(CHILD, config, children, (msg, child) => { messages.push(msg); onMessage?.(msg, child) })
  return { how: await exited, messages }
}

const first = (r: Run, type: string): ChildMessage | undefined => r.messages.find((m) => m.type === type)
const problems = (r: Run): string[] => r.messages.filter((m) => ['restore-failed', 'not-started', 'plan-failed'].includes(m.type)).map((m) => JSON.stringify(m))

/** Every piece the run started with hashes correctly where it says its files are, and none a save confirmed is missing. */
function checkRestored (r: Run, confirmed: ReadonlySet<number>, label: string): { pieces: number[], root: string } {
  const restored = first(r, 'restored')
  expect(restored, `${label}: the run reported its restored pieces`).toBeDefined()
  const pieces = restored?.pieces ?? []
  const root = restored?.root ?? ''
  expect(badPiecesOnDisk(content, root, pieces), `${label}: pieces counted as had that do not hash`).toEqual([])
  const have = new Set(pieces)
  expect([...confirmed].filter((p) => !have.has(p)), `${label}: saved pieces lost (restored ${pieces.length} at ${root}, states ${(restored?.states ?? []).join(' ')}; ` +
    `${JSON.stringify(r.messages.filter((m) => !['progress', 'restored'].includes(m.type)).slice(0, 8))})`).toEqual([])
  return { pieces, root }
}

/** The final run completes; the files are byte-identical at its root; a clean restart trusts every piece. */
async function finish (dirs: { downloadDir: string, stateDir: string }, confirmed: ReadonlySet<number>, label: string, expectedRoot?: string): Promise<string> {
  const final = await run(dirs, { kind: 'none' })
  expect(final.how, label).toBe('exit 0')
  expect(problems(final)).toEqual([])
  const { root: startRoot } = checkRestored(final, confirmed, `${label} final`)
  if (expectedRoot !== undefined) expect(startRoot, `${label}: the interrupted move was finished on restart`).toBe(expectedRoot)
  const root = first(final, 'completed')?.root ?? ''
  for (const f of content.files) expect(Buffer.compare(readFileSync(join(root, content.name, f.path)), f.data), `${label}: ${f.path}`).toBe(0)
  const clean = await run(dirs, { kind: 'none' })
  expect(clean.how).toBe('exit 0')
  const restored = first(clean, 'restored')
  expect(restored?.pieces?.length).toBe(content.pieceCount)
  expect(restored?.states).not.toContain('hashing')
  return root
}

function addSaved (r: Run, confirmed: Set<number>): void {
  for (const m of r.messages) if (m.type === 'saved') for (const p of m.pieces ?? []) confirmed.add(p)
}

describe('crash campaign against libtorrent: kills during moveStorage, a session save, a full disk', () => {
  it('moveStorage between a disk and a tmpfs, killed while copying, between files and while deleting the old copies', async () => {
    const roots = [join(work, 'move-a'), join(shm, 'move-b')]
    for (const r of roots) mkdirSync(r, { recursive: true })
    const dirs = { downloadDir: roots[0]!, stateDir: join(work, 'move-state') }
    // Between files needs two files at the old place: 12 pieces the first time (f0 is ~9 pieces).
    const points = Array.from({ length: ROUNDS }, (_, cycle) => [['copying', 2], ['copied', 2], ['between-files', cycle === 0 ? 12 : 2]] as const).flat()
    const confirmed = new Set<number>()
    // Where the files are at the start of each run: the target of the move the previous run was killed in.
    let current = roots[0]!
    const kills: string[] = []
    for (const [i, [killAt, afterPieces]] of points.entries()) {
      const to = current === roots[0] ? roots[1]! : roots[0]!
      const r = await run(dirs, { kind: 'move', to, afterPieces, killAt })
      expect(problems(r), `round ${i}`).toEqual([])
      expect(r.how, `round ${i}: ${JSON.stringify(r.messages.filter((m) => m.type !== 'progress').slice(-4))}`).toBe('SIGKILL')
      expect(first(r, 'killing')?.at).toBe(killAt)
      expect(first(r, 'moved'), `round ${i}: the move finished before the kill`).toBeUndefined()
      // The start finished the move the previous run was killed in.
      expect(checkRestored(r, confirmed, `round ${i}`).root, `round ${i}: the interrupted move was finished on restart`).toBe(current)
      current = to
      addSaved(r, confirmed)
      kills.push(`${killAt}@${(first(r, 'restored')?.pieces ?? []).length}`)
    }
    const finalRoot = await finish(dirs, confirmed, 'move', current)
    // Nothing of the torrent left at the other root: moved, not duplicated; no move marker left.
    const other = finalRoot === roots[0] ? roots[1]! : roots[0]!
    expect(existsSync(join(other, content.name)) ? readdirSync(join(other, content.name)) : []).toEqual([])
    for (const r of roots) expect(existsSync(join(r, '.lodestone.parts')) ? readdirSync(join(r, '.lodestone.parts')).filter((n) => n.endsWith('.move')) : []).toEqual([])
    console.log(`crash-campaign move: kills ${kills.join(', ')} of ${content.pieceCount} pieces; saved pieces kept ${confirmed.size}`)
  })

  it('a session save, killed while a record is written and while the data files are synced', async () => {
    const dirs = { downloadDir: join(work, 'save-data'), stateDir: join(work, 'save-state') }
    mkdirSync(dirs.downloadDir, { recursive: true })
    const points = Array.from({ length: ROUNDS }, () => ['record-write', 'data-sync', 'record-write'] as const).flat()
    const confirmed = new Set<number>()
    const counts: number[] = []
    for (const [i, killAt] of points.entries()) {
      const r = await run(dirs, { kind: 'save', afterPieces: 3 + randomInt(0, 4), killAt })
      expect(problems(r), `round ${i}`).toEqual([])
      expect(r.how, `round ${i}`).toBe('SIGKILL')
      expect(first(r, 'killing')?.at).toBe(killAt)
      counts.push(checkRestored(r, confirmed, `round ${i}`).pieces.length)
      addSaved(r, confirmed)
    }
    await finish(dirs, confirmed, 'save')
    expect(counts.slice(1).some((n) => n > 0), 'restarts carried progress over').toBe(true)
    console.log(`crash-campaign save: restored piece counts ${counts.join(', ')} of ${content.pieceCount}`)
  })

  it('a full disk: STORAGE_FULL naming a file, killed in that state twice, completes once space is freed', async () => {
    mounted = join(work, 'small-disk')
    mkdirSync(mounted, { recursive: true })
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', mounted])
    } catch (error) {
      mounted = ''
      throw new Error(`mounting an 8 MiB tmpfs for the full-disk case failed (run as root, as CI does): ${String(error)}`)
    }
    const dirs = { downloadDir: join(mounted, 'data'), stateDir: join(mounted, 'state') }
    mkdirSync(dirs.downloadDir)
    // Leave ~2 MB: about half the payload fits.
    const { bavail, bsize } = statfsSync(mounted)
    const filler = join(mounted, 'filler')
    writeFileSync(filler, new Uint8Array(Number(bavail) * Number(bsize) - 2_000_000))
    const confirmed = new Set<number>()
    const counts: number[] = []
    for (let i = 0; i < 2 * ROUNDS; i++) {
      const r = await run(dirs, { kind: 'none' }, (msg, child) => {
        if (msg.type === 'error') setTimeout(() => child.kill('SIGKILL'), randomInt(0, 300))
      })
      expect(problems(r), `round ${i}`).toEqual([])
      expect(r.how, `round ${i}: ${JSON.stringify(r.messages.filter((m) => m.type !== 'progress').slice(-4))}`).toBe('SIGKILL')
      const error = first(r, 'error')
      expect(error?.code).toBe('STORAGE_FULL')
      expect(error?.path).toMatch(/crash2\/f\d\.bin$/)
      counts.push(checkRestored(r, confirmed, `round ${i}`).pieces.length)
    }
    rmSync(filler)
    await finish(dirs, confirmed, 'full')
    console.log(`crash-campaign full disk: restored piece counts ${counts.join(', ')} of ${content.pieceCount}`)
  })
})
