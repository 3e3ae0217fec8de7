# aria2's side of bench/download: aria2c 1.36 (Debian `aria2`) downloads one torrent from the
# seeder on 127.0.0.1 and is measured from outside (it has no hook to measure itself).
#
#   /usr/bin/python3 aria2-peer.py leech <torrent> <dir> <peer port>
#
# aria2 cannot be handed a peer address, so this script serves a stub HTTP tracker on 127.0.0.1
# that answers every announce with 127.0.0.1:<peer port> alone (--bt-tracker): the seeder is the
# only peer aria2 learns of. aria2c runs confined to loopback (INTEROP-NOTES.md: no DHT, LPD, PEX),
# --file-allocation=none (sparse files, as libtorrent and Lodestone write them; aria2's default
# 'prealloc' writes the whole payload as zeros first), --seed-time=0 so it exits once the download
# is complete and verified. Everything else is aria2's default.
#
# Result (one JSON line, as libtorrent-peer.py prints it): seconds from starting aria2c to its exit,
# CPU seconds and peak RSS of the aria2c process from os.wait4 (ru_maxrss: its whole life, which
# is the download; the start-up before the first byte is a few ms), bytes = the torrent's size.
import http.server, json, os, subprocess, sys, threading, time
import libtorrent as lt


def stub_tracker(peer_port):
    peer = bytes([127, 0, 0, 1, peer_port >> 8, peer_port & 0xff])
    body = b'd8:intervali60e5:peers6:' + peer + b'e'

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header('Content-Length', str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(('127.0.0.1', 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return 'http://127.0.0.1:%d/announce' % server.server_address[1]


def leech(torrent, directory, port):
    total = lt.torrent_info(torrent).total_size()
    tracker = stub_tracker(port)
    args = ['/usr/bin/aria2c', '--no-conf', '--enable-dht=false', '--enable-dht6=false', '--bt-enable-lpd=false',
            '--enable-peer-exchange=false', '--interface=127.0.0.1', '--seed-time=0', '--file-allocation=none',
            '--summary-interval=0', '--console-log-level=warn', '--quiet=true',
            '--dir=' + directory, '--bt-tracker=' + tracker, torrent]
    start = time.monotonic()
    child = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.monotonic() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit('aria2c exited %d: %s' % (child.returncode, child.stderr.read().decode(errors='replace')[-2000:]))
    emit = {'event': 'result', 'seconds': seconds, 'cpuSeconds': usage.ru_utime + usage.ru_stime,
            'userSeconds': usage.ru_utime, 'systemSeconds': usage.ru_stime, 'peakRssKiB': usage.ru_maxrss,
            'bytes': total, 'version': 'aria2 1.36'}
    sys.stdout.write(json.dumps(emit) + '\n')
    sys.stdout.flush()


if len(sys.argv) != 5 or sys.argv[1] != 'leech':
    raise SystemExit('usage: aria2-peer.py leech <torrent> <dir> <peer port>')
leech(sys.argv[2], sys.argv[3], int(sys.argv[4]))
