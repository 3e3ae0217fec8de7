/**
 * A loopback DHT of libtorrent sessions for interop tests: one `/usr/bin/python3` process hosting
 * `count` libtorrent 2.0.8 sessions on 127.0.0.1, each with its own port and the DHT on, told about
 * each other with `add_dht_node` (bootstrap routers never enter libtorrent's table, INTEROP-NOTES).
 * One process for all of them keeps 16+ sessions cheap on a shared machine.
 *
 * Loopback-only settings (INTEROP-NOTES "A loopback DHT of libtorrent nodes"): no bootstrap routers,
 * LSD / UPnP / NAT-PMP off, `dht_restrict_routing_ips` / `dht_restrict_search_ips` off (every node
 * is 127.0.0.1), the per-IP DHT block rate limit raised, and the DHT upload cap lifted.
 *
 * Commands (JSON lines on stdin): add a torrent or magnet to a session, force a DHT announce, run
 * `dht_get_peers`, add a DHT node. Each session's routing-table size and each torrent's status
 * (with every peer's source flags) come back as status lines every 300 ms.
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
    'enable_dht': True,
    'dht_bootstrap_nodes': '',
    'enable_lsd': False,
    'enable_upnp': False,
    'enable_natpmp': False,
    'enable_ip_notifier': False,
    'enable_outgoing_utp': False,
    'enable_incoming_utp': False,
    'allow_multiple_connections_per_ip': True,
    'dht_restrict_routing_ips': False,
    'dht_restrict_search_ips': False,
    'dht_block_ratelimit': 100000,
    'dht_block_timeout': 1,
    'dht_upload_rate_limit': 10000000,
    'alert_mask': lt.alert.category_t.error_notification | lt.alert.category_t.status_notification | lt.alert.category_t.dht_notification | lt.alert.category_t.dht_operation_notification,
}
settings.update(CFG.get('settings') or {})
sessions = [lt.session(settings) for _ in range(CFG['count'])]
deadline = time.time() + 10
while any(s.listen_port() == 0 for s in sessions) and time.time() < deadline:
    time.sleep(0.02)
ports = [s.listen_port() for s in sessions]
for i, s in enumerate(sessions):
    for j, p in enumerate(ports):
        if i != j:
            s.add_dht_node(('127.0.0.1', p))
emit({'type': 'listening', 'ports': ports})

handles = {}   # name -> (session index, handle)
replies = []   # dht_get_peers answers
stop = threading.Event()

def commands():
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            cmd = json.loads(line)
            c = cmd.get('cmd')
            if c == 'quit':
                break
            s = sessions[cmd.get('session', 0)]
            if c == 'add':
                if 'torrentPath' in cmd:
                    atp = lt.add_torrent_params()
                    atp.ti = lt.torrent_info(cmd['torrentPath'])
                else:
                    atp = lt.parse_magnet_uri(cmd['magnet'])
                atp.save_path = cmd['savePath']
                atp.flags &= ~(lt.torrent_flags.paused | lt.torrent_flags.auto_managed)
                atp.flags |= lt.torrent_flags.disable_lsd | lt.torrent_flags.disable_pex
                with lock:
                    handles[cmd['name']] = (cmd.get('session', 0), s.add_torrent(atp))
            elif c == 'announce':
                handles[cmd['name']][1].force_dht_announce()
            elif c == 'get_peers':
                s.dht_get_peers(lt.sha1_hash(bytes.fromhex(cmd['infoHash'])))
            elif c == 'add_node':
                s.add_dht_node((cmd['host'], cmd['port']))
        except Exception as e:
            emit({'type': 'command-error', 'message': str(e)})
    stop.set()

threading.Thread(target=commands, daemon=True).start()

SOURCES = [('tracker', lt.peer_info.tracker), ('dht', lt.peer_info.dht), ('pex', lt.peer_info.pex), ('lsd', lt.peer_info.lsd)]
seen = {}
while not stop.is_set():
    for i, s in enumerate(sessions):
        s.post_dht_stats()
    time.sleep(0.05)
    nodes = [0] * len(sessions)
    for i, s in enumerate(sessions):
        for a in s.pop_alerts():
            if isinstance(a, lt.dht_stats_alert):
                nodes[i] = sum(b['num_nodes'] for b in a.routing_table)
            elif isinstance(a, lt.dht_get_peers_reply_alert):
                emit({'type': 'get-peers', 'session': i, 'infoHash': str(a.info_hash),
                      'peers': [[p[0], p[1]] for p in a.peers()]})
            elif a.category() & lt.alert.category_t.error_notification:
                emit({'type': 'alert', 'session': i, 'what': a.what(), 'message': a.message()})
    torrents = {}
    with lock:
        items = list(handles.items())
    for name, (i, h) in items:
        st = h.status()
        for p in h.get_peer_info():
            seen.setdefault(name, {})['%s:%d' % (p.ip[0], p.ip[1])] = {
                'ip': p.ip[0], 'port': p.ip[1], 'sources': [n for (n, bit) in SOURCES if p.source & bit],
                'totalDownload': p.total_download, 'seed': bool(p.flags & lt.peer_info.seed)}
        torrents[name] = {'session': i, 'state': str(st.state), 'progress': st.progress, 'isSeeding': st.is_seeding,
                          'hasMetadata': st.has_metadata, 'numPeers': st.num_peers,
                          'seen': list(seen.get(name, {}).values())}
    emit({'type': 'status', 'nodes': nodes, 'torrents': torrents})
    stop.wait(0.25)
emit({'type': 'exit'})
`

export interface LtDhtPeer { ip: string, port: number, sources: string[], totalDownload: number, seed: boolean }
export interface LtDhtTorrent { session: number, state: string, progress: number, isSeeding: boolean, hasMetadata: boolean, numPeers: number, seen: LtDhtPeer[] }
export interface LtDhtStatus { nodes: number[], torrents: Record<string, LtDhtTorrent> }

function tail (text: string, lines = 15): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n')
}

/** The running sessions; see the module comment. */
export class LibtorrentDht {
  /** Each session's port (TCP and DHT UDP). */
  ports: number[] = []
  status: LtDhtStatus | null = null
  readonly getPeersReplies: Array<{ session: number, infoHash: string, peers: Array<[string, number]> }> = []
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
    child.on('exit', () => { this.exited = true; this.wake() })
  }

  private onLine (line: string): void {
    let msg: { type?: string } & Record<string, unknown>
    try { msg = JSON.parse(line) as typeof msg } catch { return }
    if (msg.type === 'listening') this.ports = msg.ports as number[]
    else if (msg.type === 'status') this.status = msg as unknown as LtDhtStatus
    else if (msg.type === 'get-peers') this.getPeersReplies.push(msg as unknown as LibtorrentDht['getPeersReplies'][number])
    else if (msg.type === 'alert' || msg.type === 'command-error') this.alerts.push(JSON.stringify(msg))
    this.wake()
  }

  private wake (): void { for (const w of [...this.waiters]) w() }

  private send (cmd: Record<string, unknown>): void { this.child.stdin?.write(JSON.stringify(cmd) + '\n') }

  /** Adds a .torrent (seeding from `savePath` when the data is there) or a magnet to a session. */
  add (name: string, session: number, source: { torrentPath: string } | { magnet: string }, savePath: string): void {
    this.send({ cmd: 'add', name, session, savePath, ...source })
  }

  announce (name: string, session: number): void { this.send({ cmd: 'announce', name, session }) }
  getPeers (session: number, infoHash: string): void { this.send({ cmd: 'get_peers', session, infoHash }) }
  addNode (session: number, host: string, port: number): void { this.send({ cmd: 'add_node', session, host, port }) }

  /** Repeats `get_peers` from `session` every 2 s until a reply lists a peer `match` accepts. */
  async findPeer (session: number, infoHash: string, match: (host: string, port: number) => boolean, timeoutMs: number, what: string): Promise<void> {
    this.getPeers(session, infoHash)
    const again = setInterval(() => { this.getPeers(session, infoHash) }, 2_000)
    try {
      await this.waitFor(() => this.getPeersReplies.some((r) => r.infoHash === infoHash && r.peers.some(([h, p]) => match(h, p))), timeoutMs, what)
    } finally {
      clearInterval(again)
    }
  }

  /** Resolves when `predicate` holds; rejects on exit or time-out (with the last status). */
  async waitFor (predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const check = (): void => {
        if (predicate()) { done(); resolve() } else if (this.exited) { done(); reject(new Error(`libtorrent DHT exited before ${what}\n${tail(this.stderr)}`)) }
      }
      const timer = setTimeout(() => {
        done()
        reject(new Error(`libtorrent DHT: timed out after ${timeoutMs} ms waiting for ${what}; status ${JSON.stringify(this.status).slice(0, 2000)}; alerts ${JSON.stringify(this.alerts.slice(-5))}\n${tail(this.stderr)}`))
      }, timeoutMs)
      const done = (): void => { clearTimeout(timer); this.waiters.delete(check) }
      this.waiters.add(check)
      check()
    })
  }

  async close (): Promise<void> {
    if (this.exited) return
    const exited = new Promise<void>((resolve) => { this.child.once('exit', () => { resolve() }) })
    this.child.stdin?.end(JSON.stringify({ cmd: 'quit' }) + '\n')
    const timer = setTimeout(() => { this.child.kill('SIGKILL') }, 5_000)
    await exited
    clearTimeout(timer)
  }
}

/** Starts `count` sessions and resolves once all listen and each has been told about the others. */
export async function startLibtorrentDht (count: number, settings: Record<string, string | number | boolean> = {}): Promise<LibtorrentDht> {
  const child = spawn(SYSTEM_PYTHON, ['-c', SCRIPT, JSON.stringify({ count, settings })], {
    env: { ...process.env, PYTHONUNBUFFERED: '1', PYTHONIOENCODING: 'utf-8' },
    stdio: ['pipe', 'pipe', 'pipe']
  })
  const dht = new LibtorrentDht(child)
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', () => { resolve() })
    child.once('error', (err) => { reject(new Error(`cannot run ${SYSTEM_PYTHON}: ${err.message}`)) })
  })
  try {
    await dht.waitFor(() => dht.ports.length === count, 30_000, 'listening')
  } catch (err) {
    child.kill('SIGKILL')
    throw err
  }
  return dht
}
