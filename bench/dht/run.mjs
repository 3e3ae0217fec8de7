#!/usr/bin/env node
// bench/dht: a trackerless magnet through a loopback DHT of 16 libtorrent 2.0.8 sessions (issue 10).
// A libtorrent seeder (its own session in the DHT) has announced a torrent; then, alternating, a
// fresh Lodestone engine and a fresh libtorrent session — each given only the magnet and one
// bootstrap node — add the magnet. Measured from adding the magnet: the first connected peer (the
// same definition both sides: libtorrent's num_peers > 0, Lodestone's stats().peers > 0 — a peer
// whose TCP/uTP connection is up, handshake or not; Lodestone also reports when the DHT first handed
// it an address) and the metadata received; each side's session is up before the clock starts
// (libtorrent's constructed, Lodestone's engine listening). Either side gives up on a round after 60 s. Rounds that
// got nothing are not left out: the summary gives, per side, how many rounds got the metadata, the
// medians over those rounds, and the median over all rounds with a failed round counted as
// "none within 60 s" (so a side that fails most rounds has no median at all). Medians over
// --rounds (default 5).
//
//   node bench/dht/run.mjs            5 rounds
//   node bench/dht/run.mjs --smoke    1 round
// Target (issue 10): Lodestone <= 1.0x libtorrent's times. Build first: npx tsc -b.
import { spawn } from 'node:child_process'
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { randomFillSync } from 'node:crypto'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const repo = join(here, '..', '..')
const python = '/usr/bin/python3'
const argv = process.argv.slice(2)
const rounds = argv.includes('--smoke') ? 1 : Number(argv[argv.indexOf('--rounds') + 1] || 5)
const { createNodeEngine } = await import(join(repo, 'packages/engine/dist/presets/node.js'))
const { createTorrent } = await import(join(repo, 'packages/engine/dist/src/metainfo/create-torrent.js'))
const { NodeFileSystem, NodeHasher } = await import(join(repo, 'packages/engine/dist/adapters/node/index.js'))

const DHT_SCRIPT = String.raw`
import json, sys, time, libtorrent as lt
cfg = json.loads(sys.argv[1])
base = {'listen_interfaces': '127.0.0.1:0', 'outgoing_interfaces': '127.0.0.1', 'enable_dht': True, 'dht_bootstrap_nodes': '',
        'enable_lsd': False, 'enable_upnp': False, 'enable_natpmp': False, 'enable_ip_notifier': False,
        'enable_outgoing_utp': False, 'enable_incoming_utp': False, 'allow_multiple_connections_per_ip': True,
        'dht_restrict_routing_ips': False, 'dht_restrict_search_ips': False, 'dht_block_ratelimit': 100000,
        'dht_block_timeout': 1, 'dht_upload_rate_limit': 10000000,
        'alert_mask': lt.alert.category_t.status_notification | lt.alert.category_t.dht_operation_notification}
if cfg['mode'] == 'dht':
    ses = [lt.session(base) for _ in range(17)]
    while any(s.listen_port() == 0 for s in ses): time.sleep(0.02)
    ports = [s.listen_port() for s in ses]
    for i, s in enumerate(ses):
        for j, p in enumerate(ports):
            if i != j: s.add_dht_node(('127.0.0.1', p))
    time.sleep(3)
    atp = lt.add_torrent_params(); atp.ti = lt.torrent_info(cfg['torrent']); atp.save_path = cfg['dir']
    atp.flags &= ~(lt.torrent_flags.paused | lt.torrent_flags.auto_managed)
    h = ses[16].add_torrent(atp)
    while not h.status().is_seeding: time.sleep(0.05)
    h.force_dht_announce()
    ih = atp.ti.info_hashes().v1
    found = False
    while not found:
        ses[3].dht_get_peers(ih)
        end = time.time() + 2
        while time.time() < end and not found:
            for a in ses[3].pop_alerts():
                if isinstance(a, lt.dht_get_peers_reply_alert) and any(p[1] == ports[16] for p in a.peers()): found = True
            time.sleep(0.05)
    print(json.dumps({'ports': ports}), flush=True)
    sys.stdin.read()
else:
    s = dict(base); s['dht_bootstrap_nodes'] = cfg['bootstrap']
    ses = lt.session(s)
    atp = lt.parse_magnet_uri(cfg['magnet']); atp.save_path = cfg['dir']
    atp.flags &= ~(lt.torrent_flags.paused | lt.torrent_flags.auto_managed)
    t0 = time.monotonic(); h = ses.add_torrent(atp); peer = None; meta = None
    while meta is None or peer is None:
        if peer is None and h.status().num_peers > 0: peer = time.monotonic() - t0
        for a in ses.pop_alerts():
            if isinstance(a, lt.metadata_received_alert) and meta is None: meta = time.monotonic() - t0
        if time.monotonic() - t0 > cfg['timeoutS']: break
        time.sleep(0.005)
    print(json.dumps({'peerMs': None if peer is None else peer * 1000, 'metadataMs': None if meta is None else meta * 1000}), flush=True)
`

const TIMEOUT_MS = 60_000
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)] }
const dir = mkdtempSync(join(tmpdir(), 'bench-dht-'))
const payload = new Uint8Array(4 * 1024 * 1024); randomFillSync(payload)
writeFileSync(join(dir, 'payload.bin'), payload)
const hasher = new NodeHasher({ workers: 1 })
const created = await createTorrent('payload.bin', { kind: 'v1', pieceLengthBytes: 65_536 }, { fs: new NodeFileSystem(dir), hasher, nativePath: (p) => join(dir, p) })
await hasher.close()
writeFileSync(join(dir, 'b.torrent'), created.torrent)
const hex = Buffer.from(created.infoHashV1).toString('hex')
const magnet = `magnet:?xt=urn:btih:${hex}`

const dht = spawn(python, ['-c', DHT_SCRIPT, JSON.stringify({ mode: 'dht', torrent: join(dir, 'b.torrent'), dir })], { stdio: ['pipe', 'pipe', 'inherit'] })
const { ports } = JSON.parse(await new Promise((resolve) => createInterface({ input: dht.stdout }).once('line', resolve)))
const bootstrap = `127.0.0.1:${ports[0]}`
console.log(`dht: 16 libtorrent sessions + seeder on ${ports[16]}; load ${loadavg().map((l) => l.toFixed(1)).join(' ')}`)

async function lodestoneRound () {
  const out = mkdtempSync(join(tmpdir(), 'bench-dht-ls-'))
  const engine = createNodeEngine({ downloadPath: out, port: 0, host: '127.0.0.1', hasherWorkers: 1, logLevel: 'off', settings: { dht: { bootstrapNodes: [bootstrap] }, discovery: { lsd: false } } })
  // Listening (TCP, UDP, the DHT node starting) before the clock starts, as libtorrent's session is
  // constructed before its add_torrent.
  await engine.listen()
  const t0 = performance.now()
  const torrent = await engine.addTorrent(magnet)
  // A magnet's metadata phase connects outside the torrent's peer events: poll every millisecond
  // for the first address the DHT handed over and the first connected peer.
  const result = { foundMs: null, peerMs: null, metadataMs: null }
  torrent.once('metadata', () => { result.metadataMs = performance.now() - t0 })
  await new Promise((resolve) => {
    const poll = setInterval(() => {
      const now = performance.now() - t0
      if (result.foundMs === null && torrent.knownPeerAddresses().length > 0) result.foundMs = now
      if (result.peerMs === null && (torrent.stats().peers > 0 || result.metadataMs !== null)) result.peerMs = now
      if ((result.peerMs !== null && result.metadataMs !== null) || now > TIMEOUT_MS) { clearInterval(poll); resolve() }
    }, 1)
  })
  await engine.close()
  rmSync(out, { recursive: true, force: true })
  return result
}

async function libtorrentRound () {
  const out = mkdtempSync(join(tmpdir(), 'bench-dht-lt-'))
  const child = spawn(python, ['-c', DHT_SCRIPT, JSON.stringify({ mode: 'client', bootstrap, magnet, dir: out, timeoutS: TIMEOUT_MS / 1000 })], { stdio: ['ignore', 'pipe', 'inherit'] })
  const line = await new Promise((resolve) => createInterface({ input: child.stdout }).once('line', resolve))
  await new Promise((resolve) => child.once('exit', resolve))
  rmSync(out, { recursive: true, force: true })
  return JSON.parse(line)
}

const ls = []; const lt = []
const ms = (v) => (v === null || v === undefined ? 'none within 60 s' : `${v.toFixed(0)} ms`)
for (let r = 0; r < rounds; r++) {
  const order = r % 2 === 0 ? [lodestoneRound, libtorrentRound] : [libtorrentRound, lodestoneRound]
  for (const run of order) {
    const res = await run()
    ;(run === lodestoneRound ? ls : lt).push(res)
    const found = res.foundMs !== undefined ? ` (DHT address ${ms(res.foundMs)})` : ''
    console.log(`round ${r + 1} ${run === lodestoneRound ? 'lodestone ' : 'libtorrent'}: first connected peer ${ms(res.peerMs)}${found}, metadata ${ms(res.metadataMs)}`)
  }
}
const got = (xs, k) => xs.map((x) => x[k]).filter((x) => x !== null && x !== undefined)
// Over the rounds that got it, and over all rounds with a miss as +Infinity (null: no median).
const mOk = (xs, k) => { const v = got(xs, k); return v.length === 0 ? null : median(v) }
const mAll = (xs, k) => { const v = median(xs.map((x) => x[k] ?? Infinity)); return Number.isFinite(v) ? v : null }
const fmt = (v) => (v === null ? 'none within 60 s' : `${v.toFixed(0)} ms`)
const ratio = (a, b) => (a === null || b === null ? 'n/a' : `${(a / b).toFixed(2)}x`)
for (const k of ['peerMs', 'metadataMs']) {
  const what = k === 'peerMs' ? 'first connected peer' : 'metadata'
  console.log(`${what}: lodestone ${got(ls, k).length}/${rounds} rounds, median ${fmt(mOk(ls, k))} (all rounds ${fmt(mAll(ls, k))}); ` +
    `libtorrent ${got(lt, k).length}/${rounds} rounds, median ${fmt(mOk(lt, k))} (all rounds ${fmt(mAll(lt, k))}); ` +
    `ratio over the rounds each got ${ratio(mOk(ls, k), mOk(lt, k))}`)
}
console.log(`lodestone first DHT address: median ${fmt(mOk(ls, 'foundMs'))}; load ${loadavg().map((l) => l.toFixed(1)).join(' ')}`)
dht.stdin.end()
await new Promise((resolve) => dht.once('exit', resolve))
rmSync(dir, { recursive: true, force: true })
