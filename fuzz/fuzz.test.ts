/**
 * The fuzz targets in `npm test` (issue 15): every input saved in fuzz/regressions/<target>/ is
 * replayed, then each target gets a short mutational smoke run (fixed seed, so a failure
 * reproduces). Long campaigns: `npm run fuzz -- <target> --runs N | --seconds S`.
 */
import { describe, expect, it } from 'vitest'
import { check, runCampaign } from './campaign.mjs'
import { regressionInputs } from './regressions.mjs'
import { TARGETS } from './targets.mjs'

const SMOKE_SECONDS = 1
const TIME_LIMIT_MS = 2_000

describe('fuzz targets', () => {
  for (const [name, target] of Object.entries(TARGETS)) {
    it(`${name}: regression corpus replays and a ${SMOKE_SECONDS} s smoke run find no untyped throw, hang or blow-up`, async () => {
      for (const input of regressionInputs(name)) await check(target, input, TIME_LIMIT_MS)
      const failures: string[] = []
      const result = await runCampaign(target, {
        seconds: SMOKE_SECONDS,
        seed: 15,
        timeLimitMs: TIME_LIMIT_MS,
        onFailure: (input: Uint8Array, failure: Error) => { failures.push(`${failure.message} on ${Buffer.from(input).toString('base64').slice(0, 200)}`) }
      })
      expect(failures).toEqual([])
      expect(result.executed).toBeGreaterThan(50)
    })
  }
})
