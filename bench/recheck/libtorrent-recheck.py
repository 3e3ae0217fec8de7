# libtorrent's side of bench/recheck: add the torrent (its data already in save_path), let the
# first check finish, then force_recheck and time that one (page cache warm). Prints one JSON line:
# the recheck's wall seconds and the process's CPU seconds (all threads) during it. With a third
# argument (the payload: file or directory), the page cache of the payload is evicted after the
# first check, before the timed recheck (cold cache; evict.py), and the bytes left cached printed.
# Usage: /usr/bin/python3 libtorrent-recheck.py <file.torrent> <save_path> [<payload to evict>]
import json, os, resource, sys, time
import libtorrent as lt
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evict import evict
from threads import core_wait, thread_times

torrent, save_path = sys.argv[1], sys.argv[2]
evict_path = sys.argv[3] if len(sys.argv) > 3 else None
ses = lt.session({'listen_interfaces': '127.0.0.1:0', 'enable_dht': False, 'enable_lsd': False,
                  'enable_upnp': False, 'enable_natpmp': False, 'enable_ip_notifier': False,
                  'alert_mask': lt.alert.category_t.status_notification})
atp = lt.add_torrent_params()
atp.ti = lt.torrent_info(torrent)
atp.save_path = save_path
# Not auto-managed (and not paused): a force_recheck of an auto-managed torrent waits for the
# session's next auto-manage tick (up to ~1 s) before it starts hashing, which is queueing, not
# checking. Measured on 64 MiB: 1.07 s auto-managed (0.88 s of it paused), 0.06 s not.
atp.flags &= ~(lt.torrent_flags.auto_managed | lt.torrent_flags.paused)
h = ses.add_torrent(atp)

def wait_checked():
    while True:
        ses.wait_for_alert(1000)
        for a in ses.pop_alerts():
            if isinstance(a, lt.torrent_checked_alert):
                return

def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime

wait_checked()
evicted = evict([evict_path]) if evict_path is not None else None
c0, s0, t0 = cpu(), thread_times(), time.monotonic()
h.force_recheck()
wait_checked()
seconds, cpu_sec = time.monotonic() - t0, cpu() - c0
waits = core_wait(s0, thread_times(), seconds)
s = h.status()
print(json.dumps({'seconds': seconds, 'cpuSec': cpu_sec, 'pieces': s.num_pieces, 'version': lt.__version__,
                  'residentBytes': evicted['residentBytes'] if evicted is not None else None, **waits}))
