# libtorrent's side of bench/download: one session that seeds or downloads one torrent over
# loopback TCP, and measures itself (CPU seconds of all its threads, peak RSS) over the transfer.
#
#   /usr/bin/python3 libtorrent-peer.py seed  <torrent> <dir>
#       prints {"event":"ready","port":N}; then reads commands on stdin, one a line:
#       "mark" starts the measurement (prints {"event":"marked"}), "stop" prints the result, exits.
#   /usr/bin/python3 libtorrent-peer.py leech <torrent> <dir> <peer port>
#       downloads from 127.0.0.1:<peer port> into <dir>, prints the result, exits.
#
# Result: {"event":"result","seconds":s,"cpuSeconds":c,"userSeconds":u,"systemSeconds":y,
#          "peakRssKiB":k,"bytes":b,"version":v}. Peak RSS is VmHWM, reset (clear_refs 5) when the
# measurement starts, so it is the peak during the transfer. "threads": CPU seconds (utime + stime
# from /proc/self/task/*/stat) of each thread over the measurement, by name (comm) and tid, busiest
# first, with waitSeconds (runnable but waiting for a core: /proc/self/task/*/schedstat), and "busiestThread" the first of them: libtorrent's network thread does all socket I/O and
# RC4 itself, so bytes / its CPU seconds is the most this end can move (bench/mse prints it).
#
# Settings: lt.high_performance_seed() as the base for every libtorrent in the bench (seeder and
# leecher alike), confined to loopback (INTEROP-NOTES.md), uTP off so both sides speak TCP.
# Outgoing encryption stays libtorrent's default (try MSE first, as real libtorrent peers do);
# LT_OUT_ENC=disabled makes leechers dial in plaintext (diagnostics); LT_ENC=rc4 forces RC4 both
# ways (in/out_enc_policy forced, allowed_enc_level rc4: bench/mse); LT_UTP=only speaks uTP alone
# with a 4 MiB socket receive buffer (bench/utp). Leecher results also carry
# firstByteSeconds: from the start of the measurement to the first payload byte.
# LT_UPLOAD_TIMES=1 (bench/download): the seeder polls its upload counter every 2 ms from "mark" on
# and its result carries firstUploadSeconds and lastUploadSeconds (from "mark" to the first payload
# byte sent, and to the moment the counter last grew): the transfer as the seeder saw it, without
# the downloader's start-up.
import json, os, resource, sys, threading, time
import libtorrent as lt


def emit(value):
    sys.stdout.write(json.dumps(value) + '\n')
    sys.stdout.flush()


def session():
    settings = lt.high_performance_seed()
    settings.update({
        'listen_interfaces': '127.0.0.1:0',
        'outgoing_interfaces': '127.0.0.1',
        'enable_dht': False,
        'dht_bootstrap_nodes': '',
        'enable_lsd': False,
        'enable_upnp': False,
        'enable_natpmp': False,
        'enable_ip_notifier': False,
        'enable_outgoing_utp': False,
        'enable_incoming_utp': False,
        'allow_multiple_connections_per_ip': True,
        'alert_mask': lt.alert.category_t.error_notification | lt.alert.category_t.status_notification,
    })
    if os.environ.get('LT_OUT_ENC') == 'disabled':
        settings['out_enc_policy'] = 2  # diagnostics: dial in plaintext (no MSE attempt first)
    if os.environ.get('LT_UTP') == 'only':
        # bench/utp: uTP only, with the 4 MiB socket receive buffer the bar is measured with
        settings.update({'enable_outgoing_utp': True, 'enable_incoming_utp': True, 'enable_outgoing_tcp': False,
                         'enable_incoming_tcp': False, 'recv_socket_buffer_size': 4 * 1024 * 1024})
    if os.environ.get('LT_ENC') == 'rc4':
        settings.update({'out_enc_policy': 0, 'in_enc_policy': 0, 'allowed_enc_level': 2})  # forced RC4
    return lt.session(settings)


def thread_cpu():
    """tid -> (comm, CPU seconds so far, seconds waiting for a core so far) for every thread."""
    tick = os.sysconf('SC_CLK_TCK')
    out = {}
    for tid in os.listdir('/proc/self/task'):
        try:
            with open('/proc/self/task/%s/stat' % tid) as f:
                stat = f.read()
        except OSError:
            continue  # the thread exited meanwhile
        fields = stat[stat.rindex(')') + 2:].split()
        try:
            with open('/proc/self/task/%s/schedstat' % tid) as f:
                wait = int(f.read().split()[1]) / 1e9  # ns runnable but waiting for a core
        except OSError:
            wait = 0
        out[tid] = (stat[stat.index('(') + 1:stat.rindex(')')], (int(fields[11]) + int(fields[12])) / tick, wait)
    return out


class Meter:
    def __init__(self):
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        self.threads = thread_cpu()
        self.usage = resource.getrusage(resource.RUSAGE_SELF)
        self.start = time.monotonic()

    def result(self, nbytes):
        seconds = time.monotonic() - self.start
        usage = resource.getrusage(resource.RUSAGE_SELF)
        peak = 0
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith('VmHWM:'):
                    peak = int(line.split()[1])
        user = usage.ru_utime - self.usage.ru_utime
        system = usage.ru_stime - self.usage.ru_stime
        # threads that exited during the measurement are missing here (libtorrent keeps its own)
        threads = sorted(({'name': 'main' if tid == str(os.getpid()) else comm, 'tid': int(tid),
                           'cpuSeconds': round(cpu - self.threads.get(tid, ('', 0, 0))[1], 2),
                           'waitSeconds': round(wait - self.threads.get(tid, ('', 0, 0))[2], 2)}
                          for tid, (comm, cpu, wait) in thread_cpu().items()), key=lambda t: -t['cpuSeconds'])
        return {'event': 'result', 'seconds': seconds, 'cpuSeconds': user + system, 'userSeconds': user,
                'systemSeconds': system, 'peakRssKiB': peak, 'bytes': nbytes, 'version': lt.__version__,
                'threads': [t for t in threads if t['cpuSeconds'] > 0], 'busiestThread': threads[0]}


def add(ses, torrent, directory, seed):
    atp = lt.add_torrent_params()
    atp.ti = lt.torrent_info(torrent)
    atp.save_path = directory
    flags = atp.flags & ~lt.torrent_flags.paused & ~lt.torrent_flags.auto_managed
    flags |= lt.torrent_flags.disable_dht | lt.torrent_flags.disable_lsd | lt.torrent_flags.disable_pex
    if seed:
        flags |= lt.torrent_flags.seed_mode
    atp.flags = flags
    return ses.add_torrent(atp)


def seed(torrent, directory):
    ses = session()
    h = add(ses, torrent, directory, True)
    deadline = time.monotonic() + 30
    while not h.status().is_seeding:
        if time.monotonic() > deadline:
            raise SystemExit('seeder did not reach seeding')
        time.sleep(0.01)
    emit({'event': 'ready', 'port': ses.listen_port()})
    meter = None
    times = {}
    stopping = threading.Event()

    def poll_uploads(start):
        last = 0
        while not stopping.is_set():
            uploaded = h.status().total_payload_upload
            if uploaded > last:
                now = time.monotonic() - start
                times.setdefault('firstUploadSeconds', now)
                times['lastUploadSeconds'] = now
                last = uploaded
            time.sleep(0.002)

    poller = None
    for line in sys.stdin:
        command = line.strip()
        if command == 'mark':
            meter = Meter()
            if os.environ.get('LT_UPLOAD_TIMES') == '1':
                poller = threading.Thread(target=poll_uploads, args=(meter.start,), daemon=True)
                poller.start()
            emit({'event': 'marked'})
        elif command == 'stop':
            break
    stopping.set()
    if poller is not None:
        poller.join()
    if meter is None:
        meter = Meter()
    result = meter.result(h.status().all_time_upload)
    result.update(times)
    emit(result)


def leech(torrent, directory, port):
    ses = session()
    meter = Meter()
    h = add(ses, torrent, directory, False)
    h.connect_peer(('127.0.0.1', port))
    total = h.torrent_file().total_size()
    first_byte = None
    while True:
        ses.wait_for_alert(50)
        for alert in ses.pop_alerts():
            if isinstance(alert, lt.torrent_error_alert):
                raise SystemExit('torrent error: ' + alert.message())
        status = h.status()
        if first_byte is None and status.total_payload_download > 0:
            first_byte = time.monotonic() - meter.start
        if status.is_seeding:
            break
    result = meter.result(total)
    result['firstByteSeconds'] = first_byte
    emit(result)


mode = sys.argv[1]
if mode == 'seed':
    seed(sys.argv[2], sys.argv[3])
elif mode == 'leech':
    leech(sys.argv[2], sys.argv[3], int(sys.argv[4]))
else:
    raise SystemExit('usage: libtorrent-peer.py seed|leech ...')
