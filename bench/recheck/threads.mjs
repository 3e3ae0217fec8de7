// Per-thread scheduler figures for bench/recheck. On this shared 2-core machine (load 20+) a check's
// wall time is mostly its threads waiting for a core: /proc/self/task/*/schedstat gives each
// thread's time running and time runnable but waiting on the run queue. The busiest thread's wait
// is reported, and the wall time less that wait — the part that is this process's own work and
// its disk reads (at a quiet moment the two agree).
import { readdirSync, readFileSync } from 'node:fs'

/** Map tid -> [run ns, runqueue-wait ns]. */
export function threadTimes () {
  const out = new Map()
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const [run, wait] = readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ').map(Number)
      out.set(tid, [run, wait])
    } catch {}
  }
  return out
}

export function coreWait (before, after, wallSeconds) {
  let best = null
  for (const [tid, [run, wait]] of after) {
    const [r0, w0] = before.get(tid) ?? [0, 0]
    if (best === null || run - r0 > best[0]) best = [run - r0, wait - w0]
  }
  const waitSec = best === null ? 0 : best[1] / 1e9
  return { coreWaitSec: waitSec, lessWaitSec: wallSeconds - waitSec }
}
