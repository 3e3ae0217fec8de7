# Runs a command and prints one JSON line with its wall time, CPU seconds and peak RSS, from the
# kernel's rusage of that child (all its threads, e.g. Node's worker pool), so the bench needs no
# GNU time. This script runs exactly one child, so RUSAGE_CHILDREN is that child's usage.
# Usage: python3 measure.py <command> [args...]
import json, resource, subprocess, sys, time

start = time.monotonic()
proc = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
wall = time.monotonic() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({
    'exitCode': proc.returncode,
    'wallSeconds': wall,
    'userSeconds': usage.ru_utime,
    'systemSeconds': usage.ru_stime,
    'maxRssKiB': usage.ru_maxrss,
    'stdout': proc.stdout.decode('utf-8', 'replace')[-4000:],
    'stderr': proc.stderr.decode('utf-8', 'replace')[-4000:],
}))
