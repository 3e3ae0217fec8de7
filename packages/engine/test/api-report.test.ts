// The public API is what packages/engine/api/*.api.md records (issue 9): the check fails when the
// exported surface of any entry point differs from its report, and says which command updates it.
// It reads the built declarations (dist/), which `npm test` builds first (tsc -b).
import { execFile } from 'node:child_process'
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const engineDir = join(dirname(fileURLToPath(import.meta.url)), '..')
const script = join(engineDir, 'scripts', 'api-report.mjs')

interface Run { code: number, stderr: string }

function runCheck (args: string[] = []): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [script, ...args], { cwd: engineDir }, (error, _stdout, stderr) => {
      resolve({ code: error === null ? 0 : (typeof error.code === 'number' ? error.code : -1), stderr })
    })
  })
}

// api-extractor takes seconds on a quiet machine; on a loaded one (parallel projects, CI) several
// times that, so these two get a generous limit of their own.
const apiExtractorTimeoutMs = 120_000

describe('API report', () => {
  it('every entry point in package.json "exports" matches its checked-in report', async () => {
    const run = await runCheck()
    expect(run.stderr, run.stderr).toBe('')
    expect(run.code).toBe(0)
  }, apiExtractorTimeoutMs)

  it('exporting one more internal name from the root without updating the report fails, naming it and the update command', async () => {
    // A copy of the root entry with one extra export, checked against the root's report.
    const probeDir = join(engineDir, 'dist', `api-probe-${process.pid}`)
    await mkdir(probeDir, { recursive: true })
    try {
      const same = join(probeDir, 'same.d.ts')
      const extra = join(probeDir, 'extra.d.ts')
      const root = "/** The root, re-exported. @packageDocumentation */\nexport * from '../src/index.js'\n"
      await writeFile(same, root)
      await writeFile(extra, `${root}export { PiecePicker } from '../src/torrent/piece-picker.js'\n`)

      // One run for both: the unchanged copy (the control) passes, the copy with PiecePicker fails.
      const run = await runCheck(['--entry', `engine=${same}`, '--entry', `engine=${extra}`])
      expect(run.code).toBe(1)
      expect(run.stderr).not.toContain('same.d.ts')
      expect(run.stderr).toContain(`engine (dist/api-probe-${process.pid}/extra.d.ts): the exported surface differs`)
      expect(run.stderr).toContain('+ export class PiecePicker')
      // PiecePicker's signatures name types the root does not export, which fails on its own.
      expect(run.stderr).toMatch(/the public API names types the root does not export: .*PieceSpace/)
      expect(run.stderr).not.toMatch(/^ {2}- /m)
      expect(run.stderr).toContain('run `npm run api:update`')
    } finally {
      await rm(probeDir, { recursive: true, force: true })
    }
  }, apiExtractorTimeoutMs)

  it('README lists exactly the root exports of the report', async () => {
    const readme = await readFile(join(engineDir, '..', '..', 'README.md'), 'utf8')
    const start = readme.indexOf('The root exports')
    const end = readme.indexOf('### The API report')
    expect(start).toBeGreaterThan(-1)
    expect(end).toBeGreaterThan(start)
    const listed = new Set([...readme.slice(start, end).matchAll(/`([A-Za-z_]\w*)`/g)].map((m) => m[1]!))
    const report = await readFile(join(engineDir, 'api', 'engine.api.md'), 'utf8')
    const exported = new Set([...report.matchAll(/^export (?:declare )?(?:abstract )?(?:class|function|const|let|interface|type|enum|namespace) (\w+)/gm)].map((m) => m[1]!))
    const missing = [...exported].filter((name) => !listed.has(name))
    const stale = [...listed].filter((name) => !exported.has(name))
    expect({ missing, stale }, 'README.md "The root exports": add the missing names to their group, drop the stale ones').toEqual({ missing: [], stale: [] })
  })
})
