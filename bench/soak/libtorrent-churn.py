# A churning libtorrent 2.0.8 peer for bench/soak/run.mjs: downloads the soak torrent on 127.0.0.1
# (DHT, LSD, UPnP, NAT-PMP, PEX and uTP off) and obeys JSON-line commands on stdin:
#   {"cmd":"connect","port":N}  dial 127.0.0.1:N        {"cmd":"pause"} / {"cmd":"resume"}
#   {"cmd":"readd"}  remove the torrent with its files and add it again (a fresh leecher)
#   {"cmd":"quit"}
# It prints {"type":"listening","port":N} once, then a status line every 5 s. It exits when its
# stdin closes, so a dead driver leaves nothing behind.
import json, sys, threading, time
import libtorrent as lt

CFG = json.loads(sys.argv[1])
def emit(value):
    sys.stdout.write(json.dumps(value) + '\n')
    sys.stdout.flush()

ses = lt.session({
    'listen_interfaces': '127.0.0.1:0', 'outgoing_interfaces': '127.0.0.1', 'enable_dht': False,
    'dht_bootstrap_nodes': '', 'enable_lsd': False, 'enable_upnp': False, 'enable_natpmp': False,
    'enable_ip_notifier': False, 'enable_outgoing_utp': False, 'enable_incoming_utp': False,
    'allow_multiple_connections_per_ip': True, 'alert_mask': 0})
ti = lt.torrent_info(CFG['torrentPath'])
known = set()

def add():
    atp = lt.add_torrent_params()
    atp.ti = ti
    atp.save_path = CFG['savePath']
    atp.flags &= ~(lt.torrent_flags.paused | lt.torrent_flags.auto_managed)
    atp.flags |= lt.torrent_flags.disable_dht | lt.torrent_flags.disable_lsd | lt.torrent_flags.disable_pex
    h = ses.add_torrent(atp)
    h.set_download_limit(CFG['downloadRate'])
    h.set_upload_limit(CFG['uploadRate'])
    for p in known:
        h.connect_peer(('127.0.0.1', p))
    return h

h = add()
deadline = time.time() + 10
while ses.listen_port() == 0 and time.time() < deadline:
    time.sleep(0.02)
emit({'type': 'listening', 'port': ses.listen_port()})

lock = threading.Lock()
readds = 0

def run(cmd):
    global h, readds
    c = cmd.get('cmd')
    with lock:
        if c == 'connect':
            known.add(cmd['port'])
            h.connect_peer(('127.0.0.1', cmd['port']))
        elif c == 'pause':
            h.pause()
        elif c == 'resume':
            h.resume()
        elif c == 'readd':
            ses.remove_torrent(h, lt.session.delete_files)
            # Removal is asynchronous: wait until the session no longer has it, then add it again.
            for _ in range(100):
                if not ses.find_torrent(ti.info_hashes().v1).is_valid():
                    break
                time.sleep(0.05)
            h = add()
            readds += 1

def commands():
    for line in sys.stdin:
        try:
            cmd = json.loads(line)
        except Exception:
            continue
        if cmd.get('cmd') == 'quit':
            break
        try:
            run(cmd)
        except Exception as e:
            emit({'type': 'command-error', 'message': str(e)})
    stop.set()

stop = threading.Event()
threading.Thread(target=commands, daemon=True).start()
while not stop.is_set():
    with lock:
        s = h.status()
        emit({'type': 'status', 'progress': s.progress, 'paused': bool(s.flags & lt.torrent_flags.paused),
              'peers': s.num_peers, 'down': s.total_payload_download, 'readds': readds})
    stop.wait(5)
