/**
 * A long-running libtorrent peer for interop tests: one `/usr/bin/python3` process with a
 * libtorrent session on 127.0.0.1 that seeds or downloads one torrent and reports JSON status
 * lines on stdout (one per ~200 ms), taking commands as JSON lines on stdin.
 *
 * Confined to loopback (INTEROP-NOTES.md): DHT, LSD, UPnP, NAT-PMP, the IP notifier and PEX off,
 * uTP off (TCP is what is under test), several connections per IP allowed (every peer is 127.0.0.1).
 * The process exits when its stdin closes, so a crashed test run does not leave it behind;
 * {@link LibtorrentPeer.close} also kills it.
 *
 * ```ts
 * const lt = await startLibtorrentPeer({ torrentPath, savePath, mode: 'seed' })
 * await lt.waitFor((s) => s.state === 'seeding')
 * torrent.addPeer(`127.0.0.1:${lt.port}`)
 * await lt.close()
 * ```
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { SYSTEM_PYTHON } from './python.js'

const SCRIPT = String.raw`
import json, sys, threading, time
import libtorrent as lt

CFG = json.loads(sys.argv[1])
lock = threading.Lock()

def emit(value):
    with lock:
        sys.stdout.write(json.dumps(value) + '\n')
        sys.stdout.flush()

settings = {
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
    'alert_mask': lt.alert.category_t.error_notification | lt.alert.category_t.status_notification | lt.alert.category_t.peer_notification | lt.alert.category_t.connect_notification,
}
settings.update(CFG.get('settings') or {})
PEER_LOG = CFG.get('peerLog') or []
if PEER_LOG:
    settings['alert_mask'] |= lt.alert.category_t.peer_log_notification
    settings['alert_queue_size'] = 100000
if CFG['mode'] == 'seed':
    base = lt.high_performance_seed()
    base.update(settings)
    settings = base
ses = lt.session(settings)

atp = lt.add_torrent_params()
atp.ti = lt.torrent_info(CFG['torrentPath'])
atp.save_path = CFG['savePath']
if CFG.get('filePriorities') is not None:
    atp.file_priorities = CFG['filePriorities']
atp.flags &= ~(lt.torrent_flags.paused | lt.torrent_flags.auto_managed)
atp.flags |= lt.torrent_flags.disable_dht | lt.torrent_flags.disable_lsd
if not CFG.get('pex'):
    atp.flags |= lt.torrent_flags.disable_pex
h = ses.add_torrent(atp)
if CFG.get('torrentUploadLimit'):
    h.set_upload_limit(CFG['torrentUploadLimit'])
if CFG.get('downloadRateLimit'):
    h.set_download_limit(CFG['downloadRateLimit'])

deadline = time.time() + 10
while ses.listen_port() == 0 and time.time() < deadline:
    time.sleep(0.02)
ih = atp.ti.info_hashes()
emit({'type': 'listening', 'port': ses.listen_port(),
      'v1': str(ih.v1) if ih.has_v1() else None, 'v2': str(ih.v2) if ih.has_v2() else None})

for peer in CFG.get('peers') or []:
    h.connect_peer((peer[0], peer[1]))

stop = threading.Event()

def commands():
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            cmd = json.loads(line)
            if cmd.get('cmd') == 'connect':
                h.connect_peer((cmd['host'], cmd['port']))
            elif cmd.get('cmd') == 'quit':
                break
        except Exception as e:
            emit({'type': 'command-error', 'message': str(e)})
    stop.set()

threading.Thread(target=commands, daemon=True).start()

SOURCES = [('tracker', lt.peer_info.tracker), ('pex', lt.peer_info.pex)]
# peer_info::utp_socket (bit 17 in libtorrent 2.0: holepunched is 15, i2p_socket 16); the Python
# binding does not name it.
UTP_SOCKET = getattr(lt.peer_info, 'utp_socket', 1 << 17)
# Every peer connection ever listed (latest sample), so a short transfer is still reported.
seen = {}

def text(value):
    if isinstance(value, bytes):
        return value.decode('utf-8', 'replace')
    return str(value)

while not stop.is_set():
    for a in ses.pop_alerts():
        if a.category() & lt.alert.category_t.error_notification:
            emit({'type': 'alert', 'what': a.what(), 'message': a.message()})
        elif PEER_LOG and a.what() == 'peer_log':
            m = a.message()
            if any(k in m for k in PEER_LOG):
                emit({'type': 'peerlog', 'message': m})
        elif a.what() == 'peer_disconnected':
            emit({'type': 'disconnect', 'message': a.message(), 'ip': a.ip[0], 'port': a.ip[1],
                  'socketType': str(a.socket_type).split('.')[-1], 'pid': str(a.pid)})
    s = h.status()
    peers = []
    for p in h.get_peer_info():
        peer = {'ip': p.ip[0], 'port': p.ip[1], 'client': text(p.client), 'pid': str(p.pid),
                'seed': bool(p.flags & lt.peer_info.seed), 'total_download': p.total_download,
                'total_upload': p.total_upload, 'sources': [n for (n, bit) in SOURCES if p.source & bit],
                'rc4': bool(p.flags & lt.peer_info.rc4_encrypted),
                'plaintextEncrypted': bool(p.flags & lt.peer_info.plaintext_encrypted),
                'uploadOnly': bool(p.flags & lt.peer_info.upload_only),
                'utp': bool(p.flags & UTP_SOCKET), 'pieces': sum(1 for b in p.pieces if b)}
        peers.append(peer)
        seen['%s:%d' % (peer['ip'], peer['port'])] = peer
    emit({'type': 'status', 'state': str(s.state), 'progress': s.progress, 'isSeeding': s.is_seeding,
          'isFinished': s.is_finished, 'numPieces': s.num_pieces, 'totalDone': s.total_done,
          'totalWanted': s.total_wanted, 'error': str(s.errc.message()) if s.errc.value() != 0 else '',
          'totalPayloadUpload': s.total_payload_upload, 'totalPayloadDownload': s.total_payload_download,
          'trackerOk': bool(s.current_tracker), 'peers': peers, 'seen': list(seen.values())})
    stop.wait(0.2)
emit({'type': 'exit'})
`

export interface LibtorrentPeerOptions {
  /** A .torrent file on disk. */
  torrentPath: string
  /** Where the content is (seed) or goes (download). */
  savePath: string
  /** `seed` uses `lt.high_performance_seed()` as the base settings. */
  mode: 'seed' | 'download'
  /** Dialled right after the torrent is added. */
  peers?: Array<{ host: string, port: number }>
  /** Extra libtorrent settings, applied over the loopback ones. */
  settings?: Record<string, string | number | boolean>
  /**
   * The torrent's upload cap in bytes per second (`set_upload_limit`). Session-wide limits do not
   * apply on loopback: libtorrent exempts local peers from its global peer class.
   */
  torrentUploadLimit?: number
  /** The torrent's download cap in bytes per second: keeps a downloader a leecher for a test's length. */
  downloadRateLimit?: number
  /** Keep ut_pex on for this torrent. @default false */
  pex?: boolean
  /** One priority per file (0 skips it), set before the torrent starts. */
  filePriorities?: number[]
  /**
   * libtorrent's peer log lines containing any of these (e.g. '<== EXTENDED_HANDSHAKE', which
   * prints the dict a peer sent) are collected in {@link LibtorrentPeer.peerLog}.
   */
  peerLog?: string[]
}

export interface LibtorrentPeerInfo {
  ip: string
  port: number
  client: string
  pid: string
  seed: boolean
  total_download: number
  total_upload: number
  /** How libtorrent learned of the peer: 'tracker', 'pex' (none for peers we were told to dial or that dialled us). */
  sources: string[]
  /** libtorrent's peer_info flags: the stream is RC4-encrypted; MSE handshake with a plaintext stream. */
  rc4: boolean
  plaintextEncrypted: boolean
  /** The peer said it only uploads (BEP 21 upload_only). */
  uploadOnly: boolean
  /** The connection runs over uTP (peer_info::utp_socket). */
  utp: boolean
  /** How many pieces libtorrent believes the peer has (its peer_info pieces bitfield). */
  pieces: number
}

export interface LibtorrentStatus {
  state: string
  progress: number
  isSeeding: boolean
  isFinished: boolean
  numPieces: number
  totalDone: number
  totalWanted: number
  error: string
  totalPayloadUpload: number
  totalPayloadDownload: number
  /** The torrent has a tracker that answered. */
  trackerOk: boolean
  peers: LibtorrentPeerInfo[]
  /** Every peer connection listed so far (its latest sample), connected or not. */
  seen: LibtorrentPeerInfo[]
}

function tail (text: string, lines = 15): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n')
}

/** A running libtorrent session with one torrent; see the module comment. */
/** One peer_disconnected alert. */
export interface LibtorrentDisconnect {
  ip: string
  port: number
  /** libtorrent's socket_type_t name: 'tcp', 'utp', … */
  socketType: string
  /** The peer id in hex. */
  pid: string
}

export class LibtorrentPeer {
  /** libtorrent's listening port on 127.0.0.1. */
  port = 0
  infoHashV1: string | null = null
  infoHashV2: string | null = null
  /** The latest status line, or null before the first. */
  status: LibtorrentStatus | null = null
  /** libtorrent error alerts, as `what: message`. */
  readonly alerts: string[] = []
  /** Peer log lines matching {@link LibtorrentPeerOptions.peerLog}. */
  readonly peerLog: string[] = []
  /** libtorrent's peer_disconnected alerts (their messages name the reason). */
  readonly disconnects: string[] = []
  /**
   * The same alerts as records: a connection that opens and closes between two status samples
   * (0.2 s apart) is never in `seen`, but its disconnect still names its transport and peer id.
   */
  readonly disconnectedPeers: LibtorrentDisconnect[] = []
  private stderr = ''
  private exited = false
  private exitCode: number | null = null
  private readonly waiters = new Set<() => void>()

  constructor (private readonly child: ChildProcess) {
    let buffered = ''
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      buffered += chunk
      let nl: number
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl)
        buffered = buffered.slice(nl + 1)
        this.onLine(line)
      }
    })
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => { this.stderr += chunk })
    child.stdin?.on('error', () => {})
    child.on('exit', (code) => {
      this.exited = true
      this.exitCode = code
      this.wake()
    })
  }

  private onLine (line: string): void {
    let msg: { type?: string } & Record<string, unknown>
    try {
      msg = JSON.parse(line) as typeof msg
    } catch {
      return
    }
    if (msg.type === 'listening') {
      this.port = msg.port as number
      this.infoHashV1 = msg.v1 as string | null
      this.infoHashV2 = msg.v2 as string | null
    } else if (msg.type === 'status') {
      this.status = msg as unknown as LibtorrentStatus
    } else if (msg.type === 'alert') {
      this.alerts.push(`${String(msg.what)}: ${String(msg.message)}`)
    } else if (msg.type === 'peerlog') {
      this.peerLog.push(String(msg.message))
    } else if (msg.type === 'disconnect') {
      this.disconnects.push(String(msg.message))
      this.disconnectedPeers.push({ ip: String(msg.ip), port: Number(msg.port), socketType: String(msg.socketType), pid: String(msg.pid) })
    }
    this.wake()
  }

  private wake (): void {
    for (const w of [...this.waiters]) w()
  }

  /** Resolves when `predicate` holds for a status line; rejects on exit or after `timeoutMs`. */
  async waitFor (predicate: (s: LibtorrentStatus) => boolean, timeoutMs = 30_000, what = 'condition'): Promise<LibtorrentStatus> {
    return new Promise<LibtorrentStatus>((resolve, reject) => {
      const check = (): void => {
        if (this.status !== null && predicate(this.status)) {
          done()
          resolve(this.status)
        } else if (this.exited) {
          done()
          reject(new Error(`libtorrent exited (${String(this.exitCode)}) before ${what}\n${tail(this.stderr)}`))
        }
      }
      const timer = setTimeout(() => {
        done()
        reject(new Error(`libtorrent: timed out after ${timeoutMs} ms waiting for ${what}; last status ${JSON.stringify(this.status)}; alerts ${JSON.stringify(this.alerts.slice(-5))}\n${tail(this.stderr)}`))
      }, timeoutMs)
      const done = (): void => {
        clearTimeout(timer)
        this.waiters.delete(check)
      }
      this.waiters.add(check)
      check()
    })
  }

  /** Asks libtorrent to dial a peer. */
  connect (host: string, port: number): void {
    this.child.stdin?.write(JSON.stringify({ cmd: 'connect', host, port }) + '\n')
  }

  /** Stops the session: quit, then SIGKILL if it has not exited within 3 s. */
  async close (): Promise<void> {
    if (this.exited) return
    const exited = new Promise<void>((resolve) => { this.child.once('exit', () => { resolve() }) })
    this.child.stdin?.end(JSON.stringify({ cmd: 'quit' }) + '\n')
    const timer = setTimeout(() => { this.child.kill('SIGKILL') }, 3_000)
    await exited
    clearTimeout(timer)
  }

  /** Called once the listening line arrived (or the process died). */
  async ready (timeoutMs: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const check = (): void => {
        if (this.port > 0) {
          done()
          resolve()
        } else if (this.exited) {
          done()
          reject(new Error(`libtorrent exited (${String(this.exitCode)}) before listening\n${tail(this.stderr)}`))
        }
      }
      const timer = setTimeout(() => {
        done()
        reject(new Error(`libtorrent did not report a listening port within ${timeoutMs} ms\n${tail(this.stderr)}`))
      }, timeoutMs)
      const done = (): void => {
        clearTimeout(timer)
        this.waiters.delete(check)
      }
      this.waiters.add(check)
      check()
    })
  }
}

/**
 * Starts a libtorrent peer and resolves once it listens. A missing interpreter or binding rejects
 * (the test fails; never a skip).
 */
export async function startLibtorrentPeer (options: LibtorrentPeerOptions): Promise<LibtorrentPeer> {
  const config = {
    torrentPath: options.torrentPath,
    savePath: options.savePath,
    mode: options.mode,
    peers: (options.peers ?? []).map((p) => [p.host, p.port]),
    settings: options.settings ?? {},
    torrentUploadLimit: options.torrentUploadLimit ?? 0,
    downloadRateLimit: options.downloadRateLimit ?? 0,
    pex: options.pex ?? false,
    filePriorities: options.filePriorities ?? null,
    peerLog: options.peerLog ?? []
  }
  const child = spawn(SYSTEM_PYTHON, ['-c', SCRIPT, JSON.stringify(config)], {
    env: { ...process.env, PYTHONUNBUFFERED: '1', PYTHONIOENCODING: 'utf-8' },
    stdio: ['pipe', 'pipe', 'pipe']
  })
  const peer = new LibtorrentPeer(child)
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', () => { resolve() })
    child.once('error', (err) => { reject(new Error(`cannot run ${SYSTEM_PYTHON}: ${err.message}`)) })
  })
  try {
    await peer.ready(20_000)
  } catch (err) {
    child.kill('SIGKILL')
    throw err
  }
  return peer
}
