/**
 * A long-running libtorrent session (one `/usr/bin/python3` process) for discovery interop tests:
 * peer exchange and trackers. Unlike a plain seeder it can keep PEX on, announce to trackers, and
 * be rate limited (so it stays a leecher while a test runs), and its status lines list each
 * peer's address and how libtorrent learned of it.
 *
 * Loopback only (INTEROP-NOTES.md): DHT, LSD, UPnP, NAT-PMP and the IP notifier off, bound to
 * 127.0.0.1, several connections per IP allowed (every peer here is 127.0.0.1), uTP off. The
 * process exits when its stdin closes, so a crashed test run does not leave it behind.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { runLibtorrent } from './libtorrent.js'
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
    'alert_mask': lt.alert.category_t.error_notification | lt.alert.category_t.status_notification,
}
settings.update(CFG.get('settings') or {})
ses = lt.session(settings)

atp = lt.add_torrent_params()
atp.ti = lt.torrent_info(CFG['torrentPath'])
atp.save_path = CFG['savePath']
atp.flags &= ~(lt.torrent_flags.paused | lt.torrent_flags.auto_managed)
atp.flags |= lt.torrent_flags.disable_dht | lt.torrent_flags.disable_lsd
if not CFG.get('pex'):
    atp.flags |= lt.torrent_flags.disable_pex
h = ses.add_torrent(atp)
if CFG.get('downloadRateLimit'):
    h.set_download_limit(CFG['downloadRateLimit'])

deadline = time.time() + 10
while ses.listen_port() == 0 and time.time() < deadline:
    time.sleep(0.02)
emit({'type': 'listening', 'port': ses.listen_port()})

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

while not stop.is_set():
    for a in ses.pop_alerts():
        if a.category() & lt.alert.category_t.error_notification:
            emit({'type': 'alert', 'what': a.what(), 'message': a.message()})
    s = h.status()
    peers = []
    for p in h.get_peer_info():
        peers.append({'ip': p.ip[0], 'port': p.ip[1], 'seed': bool(p.flags & lt.peer_info.seed),
                      'sources': [n for (n, bit) in SOURCES if p.source & bit]})
    emit({'type': 'status', 'state': str(s.state), 'progress': s.progress, 'isSeeding': s.is_seeding,
          'numPieces': s.num_pieces, 'trackerOk': bool(s.current_tracker), 'peers': peers})
    stop.wait(0.2)
`

export interface SwarmPeerOptions {
  torrentPath: string
  savePath: string
  /** Keep ut_pex on for this torrent. @default false */
  pex?: boolean
  /** Dialled right after the torrent is added. */
  peers?: Array<{ host: string, port: number }>
  /** Bytes per second; keeps a downloader a leecher for the test's length. */
  downloadRateLimit?: number
  /** Extra libtorrent settings over the loopback ones. */
  settings?: Record<string, string | number | boolean>
}

export interface SwarmPeerStatus {
  state: string
  progress: number
  isSeeding: boolean
  numPieces: number
  trackerOk: boolean
  peers: Array<{ ip: string, port: number, seed: boolean, sources: string[] }>
}

/** A running libtorrent session; see the module comment. */
export class SwarmPeer {
  port = 0
  status: SwarmPeerStatus | null = null
  readonly alerts: string[] = []
  private stderr = ''
  private exited = false
  private readonly waiters = new Set<() => void>()

  constructor (private readonly child: ChildProcess) {
    let buffered = ''
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      buffered += chunk
      let nl: number
      while ((nl = buffered.indexOf('\n')) >= 0) {
        this.onLine(buffered.slice(0, nl))
        buffered = buffered.slice(nl + 1)
      }
    })
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => { this.stderr += chunk })
    child.stdin?.on('error', () => {})
    child.on('exit', () => {
      this.exited = true
      this.wake()
    })
  }

  private onLine (line: string): void {
    let msg: Record<string, unknown>
    try {
      msg = JSON.parse(line) as Record<string, unknown>
    } catch {
      return
    }
    if (msg.type === 'listening') this.port = msg.port as number
    else if (msg.type === 'status') this.status = msg as unknown as SwarmPeerStatus
    else if (msg.type === 'alert') this.alerts.push(`${String(msg.what)}: ${String(msg.message)}`)
    this.wake()
  }

  private wake (): void {
    for (const w of [...this.waiters]) w()
  }

  /** Resolves when `predicate` holds; rejects when the process exits or after `timeoutMs`. */
  async waitFor (predicate: (s: SwarmPeerStatus) => boolean, timeoutMs: number, what: string): Promise<SwarmPeerStatus> {
    return new Promise<SwarmPeerStatus>((resolve, reject) => {
      const check = (): void => {
        if (this.status !== null && predicate(this.status)) {
          done()
          resolve(this.status)
        } else if (this.exited) {
          done()
          reject(new Error(`libtorrent exited before ${what}\n${this.stderr.slice(-2000)}`))
        }
      }
      const timer = setTimeout(() => {
        done()
        reject(new Error(`libtorrent: timed out after ${timeoutMs} ms waiting for ${what}; last status ${JSON.stringify(this.status)}; alerts ${JSON.stringify(this.alerts.slice(-5))}`))
      }, timeoutMs)
      const done = (): void => {
        clearTimeout(timer)
        this.waiters.delete(check)
      }
      this.waiters.add(check)
      check()
    })
  }

  connect (host: string, port: number): void {
    this.child.stdin?.write(JSON.stringify({ cmd: 'connect', host, port }) + '\n')
  }

  /** Quits (SIGKILL after 3 s: libtorrent may wait for a tracker's answer to `stopped`). */
  async close (): Promise<void> {
    if (this.exited) return
    const exited = new Promise<void>((resolve) => { this.child.once('exit', () => { resolve() }) })
    this.child.stdin?.end(JSON.stringify({ cmd: 'quit' }) + '\n')
    const timer = setTimeout(() => { this.child.kill('SIGKILL') }, 3_000)
    await exited
    clearTimeout(timer)
  }
}

/** Starts a session and resolves once it listens; a missing binding rejects (never a skip). */
export async function startSwarmPeer (options: SwarmPeerOptions): Promise<SwarmPeer> {
  const config = {
    torrentPath: options.torrentPath,
    savePath: options.savePath,
    pex: options.pex ?? false,
    peers: (options.peers ?? []).map((p) => [p.host, p.port]),
    downloadRateLimit: options.downloadRateLimit ?? 0,
    settings: options.settings ?? {}
  }
  const child = spawn(SYSTEM_PYTHON, ['-c', SCRIPT, JSON.stringify(config)], {
    env: { ...process.env, PYTHONUNBUFFERED: '1', PYTHONIOENCODING: 'utf-8' },
    stdio: ['pipe', 'pipe', 'pipe']
  })
  const peer = new SwarmPeer(child)
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', () => { resolve() })
    child.once('error', (err) => { reject(new Error(`cannot run ${SYSTEM_PYTHON}: ${err.message}`)) })
  })
  const deadline = Date.now() + 20_000
  while (peer.port === 0) {
    if (Date.now() > deadline || child.exitCode !== null) {
      child.kill('SIGKILL')
      throw new Error('libtorrent did not report a listening port')
    }
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  return peer
}

/** Random content in `dir/payload.bin` and a v1 .torrent for it made by libtorrent. */
export async function makeContent (dir: string, sizeBytes: number, trackers: string[] = []): Promise<{ torrentPath: string, infoHash: string }> {
  const torrentPath = join(dir, 'payload.torrent')
  const out = await runLibtorrent<{ infoHash: string }>(`
import os
path = os.path.join(INPUT['dir'], 'payload.bin')
with open(path, 'wb') as f:
    f.write(os.urandom(INPUT['size']))
fs = lt.file_storage()
lt.add_files(fs, path)
ct = lt.create_torrent(fs, 65536, flags=lt.create_torrent.v1_only)
for url in INPUT['trackers']:
    ct.add_tracker(url)
lt.set_piece_hashes(ct, INPUT['dir'])
with open(INPUT['torrent'], 'wb') as f:
    f.write(lt.bencode(ct.generate()))
emit({'infoHash': str(lt.torrent_info(INPUT['torrent']).info_hashes().v1)})
`, { input: { dir, size: sizeBytes, trackers, torrent: torrentPath }, timeoutMs: 30_000 })
  return { torrentPath, infoHash: out.infoHash }
}

/** Writes a copy of `torrentPath` announcing to `trackers` (one tier each); the info hash is unchanged. */
export async function withTrackers (torrentPath: string, trackers: string[], outPath: string): Promise<void> {
  await runLibtorrent(`
ct = lt.create_torrent(lt.torrent_info(INPUT['in']))
for i, url in enumerate(INPUT['trackers']):
    ct.add_tracker(url, i)
with open(INPUT['out'], 'wb') as f:
    f.write(lt.bencode(ct.generate()))
emit(True)
`, { input: { in: torrentPath, trackers, out: outPath }, timeoutMs: 30_000 })
}
