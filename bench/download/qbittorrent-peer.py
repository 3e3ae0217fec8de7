# qBittorrent's side of bench/download: qbittorrent-nox 4.5.2 (Debian `qbittorrent-nox`, on
# libtorrent 2.0.8) downloads one torrent from the seeder on 127.0.0.1, driven through its WebUI
# API (v2) and measured from outside through /proc.
#
#   /usr/bin/python3 qbittorrent-peer.py leech <torrent> <dir> <peer port>
#
# A fresh profile directory (removed at the end) holds a qBittorrent.conf that confines it to
# loopback (INTEROP-NOTES.md: DHT / LSD / PeX / port forwarding / peer country lookup off,
# interface lo, TCP only, several connections per IP allowed) and opens the WebUI on 127.0.0.1
# without a login. Everything else (disk cache, connection limits) is qBittorrent's default.
# Once the WebUI answers: the measurement starts (VmHWM reset through /proc/<pid>/clear_refs, CPU
# ticks of all threads from /proc/<pid>/stat), torrents/add with the .torrent and the save path,
# torrents/addPeers 127.0.0.1:<peer port>, then torrents/info every 20 ms until progress is 1.
# Result: one JSON line as libtorrent-peer.py prints it (seconds from the add request to the
# completed state; CPU seconds at 10 ms resolution; the polling costs qBittorrent ~50 requests/s).
import json, os, shutil, socket, subprocess, sys, tempfile, time, urllib.parse, urllib.request
import libtorrent as lt

QBT = '/usr/bin/qbittorrent-nox'
TICKS = os.sysconf('SC_CLK_TCK')


def free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


def write_config(profile, webui_port, listen_port, save_dir):
    conf = os.path.join(profile, 'qBittorrent', 'config')
    os.makedirs(conf)
    with open(os.path.join(conf, 'qBittorrent.conf'), 'w') as f:
        f.write('\n'.join([
            '[LegalNotice]', 'Accepted=true', '',
            '[Application]', 'FileLogger\\Enabled=false', '',
            '[Network]', 'PortForwardingEnabled=false', '',
            '[BitTorrent]',
            'Session\\DHTEnabled=false', 'Session\\LSDEnabled=false', 'Session\\PeXEnabled=false',
            'Session\\Port=%d' % listen_port, 'Session\\Interface=lo', 'Session\\InterfaceName=lo',
            'Session\\InterfaceAddress=127.0.0.1', 'Session\\MultiConnectionsPerIp=true', 'Session\\BTProtocol=TCP',
            'Session\\QueueingSystemEnabled=false', 'Session\\DefaultSavePath=' + save_dir, '',
            '[Preferences]',
            'Connection\\UPnP=false', 'Connection\\ResolvePeerCountries=false', 'General\\Locale=C',
            'WebUI\\Enabled=true', 'WebUI\\Address=127.0.0.1', 'WebUI\\Port=%d' % webui_port,
            'WebUI\\LocalHostAuth=false', 'WebUI\\CSRFProtection=false', 'WebUI\\HostHeaderValidation=false', ''
        ]))


def cpu_ticks(pid):
    with open('/proc/%d/stat' % pid) as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return int(fields[11]), int(fields[12])  # utime, stime of all threads


def peak_rss_kib(pid):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmHWM:'):
                return int(line.split()[1])
    return 0


class Api:
    def __init__(self, port):
        self.base = 'http://127.0.0.1:%d/api/v2/' % port

    def get(self, path):
        with urllib.request.urlopen(self.base + path, timeout=10) as r:
            return r.read()

    def post(self, path, fields=None, body=None, content_type=None):
        data = body if body is not None else urllib.parse.urlencode(fields or {}).encode()
        req = urllib.request.Request(self.base + path, data=data, method='POST')
        if content_type is not None:
            req.add_header('Content-Type', content_type)
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.read()


def multipart(fields, file_field, file_name, file_bytes):
    boundary = 'lodestonebench%d' % os.getpid()
    parts = []
    for name, value in fields.items():
        parts.append(('--%s\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n' % (boundary, name, value)).encode())
    parts.append(('--%s\r\nContent-Disposition: form-data; name="%s"; filename="%s"\r\n'
                  'Content-Type: application/x-bittorrent\r\n\r\n' % (boundary, file_field, file_name)).encode())
    parts.append(file_bytes + b'\r\n')
    parts.append(('--%s--\r\n' % boundary).encode())
    return b''.join(parts), 'multipart/form-data; boundary=' + boundary


def leech(torrent, directory, port):
    total = lt.torrent_info(torrent).total_size()
    profile = tempfile.mkdtemp(prefix='lodestone-bench-qbt-')
    webui = free_port()
    write_config(profile, webui, free_port(), directory)
    child = subprocess.Popen([QBT, '--profile=' + profile, '--webui-port=%d' % webui],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    api = Api(webui)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                version = api.get('app/version').decode()
                break
            except OSError:
                if child.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit('qbittorrent-nox did not start: ' + child.stderr.read().decode(errors='replace')[-2000:])
                time.sleep(0.05)
        with open('/proc/%d/clear_refs' % child.pid, 'w') as f:
            f.write('5')
        user0, system0 = cpu_ticks(child.pid)
        start = time.monotonic()
        with open(torrent, 'rb') as f:
            body, content_type = multipart({'savepath': directory, 'paused': 'false', 'skip_checking': 'false'},
                                           'torrents', 'payload.torrent', f.read())
        api.post('torrents/add', body=body, content_type=content_type)
        info = []
        while len(info) == 0:
            info = json.loads(api.get('torrents/info'))
            if time.monotonic() > deadline:
                raise SystemExit('qbittorrent-nox did not add the torrent')
        torrent_hash = info[0]['hash']
        api.post('torrents/addPeers', {'hashes': torrent_hash, 'peers': '127.0.0.1:%d' % port})
        while True:
            t = json.loads(api.get('torrents/info?hashes=' + torrent_hash))[0]
            if t['progress'] >= 1 and t['state'] not in ('checkingDL', 'metaDL', 'allocating', 'moving'):
                break
            if t['state'] == 'error' or t['state'] == 'missingFiles':
                raise SystemExit('qbittorrent-nox: torrent state ' + t['state'])
            time.sleep(0.02)
        seconds = time.monotonic() - start
        user1, system1 = cpu_ticks(child.pid)
        user, system = (user1 - user0) / TICKS, (system1 - system0) / TICKS
        result = {'event': 'result', 'seconds': seconds, 'cpuSeconds': user + system, 'userSeconds': user,
                  'systemSeconds': system, 'peakRssKiB': peak_rss_kib(child.pid), 'bytes': total,
                  'version': 'qBittorrent ' + version}
        sys.stdout.write(json.dumps(result) + '\n')
        sys.stdout.flush()
    finally:
        try:
            api.post('app/shutdown')
            child.wait(timeout=10)
        except Exception:
            child.kill()
            child.wait()
        shutil.rmtree(profile, ignore_errors=True)


if len(sys.argv) != 5 or sys.argv[1] != 'leech':
    raise SystemExit('usage: qbittorrent-peer.py leech <torrent> <dir> <peer port>')
leech(sys.argv[2], sys.argv[3], int(sys.argv[4]))
