# Per-thread scheduler figures of this process for bench/recheck (see threads.mjs for the why).
import os


def thread_times():
    """{tid: (run ns, runqueue-wait ns)} from /proc/self/task/*/schedstat."""
    out = {}
    for tid in os.listdir('/proc/self/task'):
        try:
            with open(f'/proc/self/task/{tid}/schedstat') as f:
                run, wait = f.read().split()[:2]
            out[tid] = (int(run), int(wait))
        except OSError:
            pass
    return out


def core_wait(before, after, wall_seconds):
    """The busiest thread's wait for a core over the window, and the window less that wait."""
    best = None
    for tid, (run, wait) in after.items():
        r0, w0 = before.get(tid, (0, 0))
        d = (run - r0, wait - w0)
        if best is None or d[0] > best[0]:
            best = d
    wait = best[1] / 1e9 if best is not None else 0.0
    return {'coreWaitSec': wait, 'lessWaitSec': wall_seconds - wait}
