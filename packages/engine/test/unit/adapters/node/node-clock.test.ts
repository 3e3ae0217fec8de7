import { afterEach, describe, expect, it, vi } from 'vitest'
import { SystemClock } from '../../../../adapters/node/node-clock.js'

describe('SystemClock', () => {
  afterEach(() => { vi.useRealTimers() })

  it('reads monotonic and wall time', () => {
    const clock = new SystemClock()
    const a = clock.now()
    const b = clock.now()
    expect(b).toBeGreaterThanOrEqual(a)
    expect(Math.abs(clock.wallNow() - Date.now())).toBeLessThan(1_000)
  })

  it('runs and cancels timeouts and intervals', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'performance'] })
    const clock = new SystemClock()
    const log: string[] = []
    clock.setTimeout(() => log.push('t10'), 10)
    const cancelled = clock.setTimeout(() => log.push('never'), 5)
    cancelled.cancel()
    cancelled.cancel()
    const iv = clock.setInterval(() => log.push('iv'), 4)
    clock.setTimeout(() => log.push('neg'), -1)
    await vi.advanceTimersByTimeAsync(12)
    iv.cancel()
    await vi.advanceTimersByTimeAsync(100)
    expect(log).toEqual(['neg', 'iv', 'iv', 't10', 'iv'])
  })

  it('splits delays beyond the platform maximum instead of firing at once', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'performance'] })
    const clock = new SystemClock()
    const thirtyDaysMs = 30 * 24 * 3600 * 1000
    let fired = 0
    clock.setTimeout(() => { fired++ }, thirtyDaysMs)
    let ticks = 0
    const iv = clock.setInterval(() => { ticks++ }, thirtyDaysMs)
    clock.setTimeout(() => { fired += 100 }, Infinity)
    await vi.advanceTimersByTimeAsync(1_000)
    expect(fired).toBe(0)
    await vi.advanceTimersByTimeAsync(thirtyDaysMs - 1_001)
    expect(fired).toBe(0)
    await vi.advanceTimersByTimeAsync(2)
    expect(fired).toBe(1)
    expect(ticks).toBe(1)
    await vi.advanceTimersByTimeAsync(thirtyDaysMs)
    expect(ticks).toBe(2)
    iv.cancel()
    await vi.advanceTimersByTimeAsync(thirtyDaysMs * 2)
    expect(ticks).toBe(2)
    expect(fired).toBe(1)
  })

  it('unrefs its timers by default so an idle process can exit', async () => {
    // Run the real module in a child process: it must exit although a 60 s timer and interval are set.
    const { spawnSync } = await import('node:child_process')
    const { readFile, writeFile, mkdtemp, rm } = await import('node:fs/promises')
    const { tmpdir } = await import('node:os')
    const { join } = await import('node:path')
    const ts = await import('typescript')
    const source = await readFile(new URL('../../../../adapters/node/node-clock.ts', import.meta.url), 'utf8')
    const js = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText
    const dir = await mkdtemp(join(tmpdir(), 'lodestone-clock-'))
    try {
      await writeFile(join(dir, 'node-clock.mjs'), js)
      const script = `
        import { SystemClock } from './node-clock.mjs'
        new SystemClock().setTimeout(() => { console.log('fired') }, 60_000)
        new SystemClock().setInterval(() => { console.log('ticked') }, 60_000)
        console.log('done')`
      await writeFile(join(dir, 'main.mjs'), script)
      const result = spawnSync(process.execPath, [join(dir, 'main.mjs')], { encoding: 'utf8', timeout: 20_000 })
      expect(result.stdout.trim()).toBe('done')
      expect(result.status).toBe(0)
      // And with unref off the same program would be kept alive (the time-out kills it).
      await writeFile(join(dir, 'ref.mjs'), "import { SystemClock } from './node-clock.mjs'\nnew SystemClock({ unref: false }).setTimeout(() => {}, 60_000)\n")
      const kept = spawnSync(process.execPath, [join(dir, 'ref.mjs')], { encoding: 'utf8', timeout: 1_000 })
      expect(kept.status).toBeNull()
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
