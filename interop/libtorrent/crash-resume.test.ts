/**
 * Crash safety of resume data against a real seeder: a child Node process (the dist build's node
 * preset with a state directory, crash-child.mjs, plan none) downloads a multi-file torrent from a
 * throttled libtorrent 2.0.8 seeder and is SIGKILLed at three random moments. After every restart
 * the pieces it starts with (trusted from the resume data, or re-checked) must all hash correctly
 * on disk — a bitfield that named a piece before its bytes were written would fail here — and the
 * download finally completes byte-identical. A last clean restart resumes without any hashing.
 *
 * The campaign of issue 15: `LODESTONE_CRASH_KILLS=20 npx vitest run interop/libtorrent/crash-resume.test.ts`
 * kills 20 times (the seeder slows down so the download outlasts them), at moments from right after
 * the restore (while changed files are re-checked) to well into the download. CI runs 3.
 */
import { execFileSync, type ChildProcess } from 'node:child_process'
import { randomInt } from 'node:crypto'
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { badPiecesOnDisk, makeCrashContent, runNodeChild, startCappedSeeder, type ChildMessage, type CrashContent } from './crash-harness.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const PRESET = join(ROOT, 'packages/engine/dist/presets/node.js')
const CHILD = fileURLToPath(new URL('./crash-child.mjs', import.meta.url))

/** How many SIGKILLs (3 in CI). */
const KILLS = Number(process.env.LODESTONE_CRASH_KILLS ?? 3)
/** Seeder upload limit: the ~4.4 MB download takes ~9 s, so three kills land mid-download; more kills, slower. */
const SEED_RATE_BYTES_PER_SEC = KILLS <= 3 ? 500_000 : Math.round(4_400_000 / (KILLS * 2.5))

let work = ''
let seeder: ChildProcess | null = null
const children = new Set<ChildProcess>()

/** Runs one child; `onMessage` sees every message. Resolves with its exit code or signal. */
function runChild (config: object, onMessage: (msg: ChildMessage, child: ChildProcess) => void): { child: ChildProcess, exited: Promise<string> } {
  return runNodeChild(CHILD, config, children, onMessage)
}

beforeAll(() => {
  // The child runs the compiled engine.
  execFileSync('npx', ['tsc', '-b'], { cwd: ROOT, stdio: 'pipe' })
  work = mkdtempSync(join(tmpdir(), 'lodestone-crash-'))
})

afterAll(() => {
  for (const c of children) c.kill('SIGKILL')
  seeder?.kill('SIGKILL')
  if (work !== '') rmSync(work, { recursive: true, force: true })
})

describe('crash-resume against libtorrent', () => {
  it(`survives ${KILLS} SIGKILLs: every restored piece hashes correctly, the download completes byte-identical`, async () => {
    const seedDir = join(work, 'seed')
    const downloadDir = join(work, 'download')
    const stateDir = join(work, 'state')
    mkdirSync(downloadDir, { recursive: true })
    const content: CrashContent = makeCrashContent('crash', seedDir, join(work, 'crash.torrent'))
    const { files, pieceCount, torrentPath } = content
    const started = await startCappedSeeder(torrentPath, seedDir, SEED_RATE_BYTES_PER_SEC)
    seeder = started.child
    const seederPort = started.port
    const config = { presetPath: PRESET, torrentPath, downloadDir, stateDir, seederPort, bitfieldSaveDelayMs: 200 }

    const restoredCounts: number[] = []
    const rechecked: boolean[] = []
    const badPieces: number[] = []
    const checkRestored = (msg: ChildMessage): void => {
      const list = msg.pieces ?? []
      restoredCounts.push(list.length)
      rechecked.push(msg.states?.includes('hashing') ?? false)
      badPieces.push(...badPiecesOnDisk(content, downloadDir, list))
    }

    for (let round = 0; round < KILLS; round++) {
      // From right after the restore (re-checking changed files) to well into the download.
      const killAfterMs = KILLS <= 3 ? randomInt(600, 2200) : randomInt(0, 2200)
      let killed = false
      let lastHave = 0
      const errors: string[] = []
      const { exited } = runChild(config, (msg, child) => {
        if (msg.type === 'restored') {
          checkRestored(msg)
          setTimeout(() => { killed = true; child.kill('SIGKILL') }, killAfterMs)
        } else if (msg.type === 'progress') lastHave = msg.have ?? 0
        else if (msg.type === 'error' || msg.type === 'restore-failed' || msg.type === 'not-started') errors.push(JSON.stringify(msg))
      })
      const how = await exited
      expect(errors).toEqual([])
      expect(killed, `round ${round}: the child ended on its own (${how}) before the kill`).toBe(true)
      expect(how).toBe('SIGKILL')
      expect(lastHave).toBeLessThan(pieceCount)
    }

    // Final run: restores, finishes, closes cleanly.
    const errors: string[] = []
    const final = runChild(config, (msg) => {
      if (msg.type === 'restored') checkRestored(msg)
      else if (msg.type === 'error' || msg.type === 'restore-failed' || msg.type === 'not-started') errors.push(JSON.stringify(msg))
    })
    expect(await final.exited).toBe('exit 0')
    expect(errors).toEqual([])
    for (const f of files) {
      expect(Buffer.compare(readFileSync(join(downloadDir, 'crash', f.path)), f.data), f.path).toBe(0)
    }

    // After the clean close: everything trusted, nothing hashed (no hashing state), straight to seeding.
    let last: ChildMessage | null = null
    const clean = runChild(config, (msg) => { if (msg.type === 'restored') last = msg })
    expect(await clean.exited).toBe('exit 0')
    const lastRestored = last as ChildMessage | null
    expect(lastRestored?.pieces?.length).toBe(pieceCount)
    expect(lastRestored?.states).not.toContain('hashing')

    expect(badPieces).toEqual([])
    // Restarts did carry progress over (the first run starts from nothing).
    expect(restoredCounts.slice(1).some((n) => n > 0)).toBe(true)
    console.log(`crash-resume: restored piece counts per run ${restoredCounts.join(', ')} of ${pieceCount}; re-checked changed files: ${rechecked.join(', ')}`)
  })
})
