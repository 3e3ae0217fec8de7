/**
 * BEP 14 local service discovery (issue 10) in a private network namespace the test creates
 * (`unshare --net`, lo up with multicast on and 224.0.0.0/4 routed to it): a libtorrent 2.0.8
 * seeder with LSD on and `lodestone download` of a bare magnet with LSD on (DHT off, no tracker,
 * no peers) find each other with no other source; the download completes byte-identical and the
 * seeder's connection reports source 'lsd'.
 *
 * The other direction: `lodestone seed` (LSD on, DHT off) announces, and a libtorrent downloader
 * given only the torrent (no peers, no tracker, no DHT) hears it — libtorrent's lsd_peer alert
 * names our address and listen port — and completes byte-identical from us; our 'engine' JSON line
 * counts the announce. Which side dials is not fixed (libtorrent's own announce may reach the seed
 * first, and the seed then dials it). Over IPv4 (239.192.152.143) and IPv6 (ff15::efc0:988f),
 * on a veth pair in the namespace — libtorrent on v0 (10.0.0.1/24, fd00::1/64), Lodestone's
 * multicast leaving by v1 (10.0.0.2/24, fd00::2/64) — because libtorrent takes announces only from
 * inside its listen network, and from a socket bound to all interfaces a datagram sent on lo
 * carries source 0.0.0.0 (lo's 127.0.0.1 has host scope), which libtorrent drops as out of network.
 */
import { spawn } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { buildMagnet } from '../../packages/engine/src/metainfo/magnet.js'
import { digestTree, makeTorrent, removeTempDirs, tempDir, TREE_FILES, writeContent } from '../helpers/fixtures.js'
import { SYSTEM_PYTHON } from '../helpers/python.js'

const CLI = fileURLToPath(new URL('../../packages/cli/bin/lodestone.js', import.meta.url))
afterAll(async () => { await removeTempDirs() })

const SEED_PORT = 7002
const LODESTONE_PORT = 7001

/** A libtorrent seeder with LSD on (everything else off), printing its peers once a second. */
const LT_SEEDER = String.raw`
import json, sys, time
import libtorrent as lt
torrent, save, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
ses = lt.session({'listen_interfaces': '0.0.0.0:%d' % port, 'enable_dht': False, 'dht_bootstrap_nodes': '', 'enable_lsd': True,
                  'enable_upnp': False, 'enable_natpmp': False, 'enable_ip_notifier': False, 'enable_outgoing_utp': False,
                  'enable_incoming_utp': False, 'allow_multiple_connections_per_ip': True})
atp = lt.add_torrent_params()
atp.ti = lt.torrent_info(torrent)
atp.save_path = save
atp.flags &= ~(lt.torrent_flags.paused | lt.torrent_flags.auto_managed)
atp.flags |= lt.torrent_flags.disable_dht | lt.torrent_flags.disable_pex
h = ses.add_torrent(atp)
for _ in range(240):
    st = h.status()
    peers = [{'ip': p.ip[0], 'port': p.ip[1], 'lsd': bool(p.source & lt.peer_info.lsd)} for p in h.get_peer_info()]
    print(json.dumps({'state': str(st.state), 'seeding': st.is_seeding, 'peers': peers}), flush=True)
    time.sleep(0.5)
`

/**
 * A libtorrent downloader with LSD on (everything else off, no peers given). Prints each peer
 * libtorrent's LSD found (its lsd_peer alert, which the Python binding exposes only by name and
 * message) and how many peers it is connected to; exits once complete with a peer found by LSD.
 */
const LT_LEECHER = String.raw`
import json, re, sys, time
import libtorrent as lt
torrent, save, iface = sys.argv[1], sys.argv[2], sys.argv[3]
ses = lt.session({'listen_interfaces': iface, 'enable_dht': False, 'dht_bootstrap_nodes': '', 'enable_lsd': True,
                  'enable_upnp': False, 'enable_natpmp': False, 'enable_ip_notifier': False, 'enable_outgoing_utp': False,
                  'enable_incoming_utp': False, 'allow_multiple_connections_per_ip': True,
                  'alert_mask': lt.alert.category_t.peer_notification | lt.alert.category_t.status_notification})
atp = lt.add_torrent_params()
atp.ti = lt.torrent_info(torrent)
atp.save_path = save
atp.flags &= ~(lt.torrent_flags.paused | lt.torrent_flags.auto_managed)
atp.flags |= lt.torrent_flags.disable_dht | lt.torrent_flags.disable_pex
h = ses.add_torrent(atp)
while ses.listen_port() == 0: time.sleep(0.02)
print(json.dumps({'listening': ses.listen_port()}), flush=True)
found = []
for _ in range(1500):
    for a in ses.pop_alerts():
        m = re.search(r'peer \[ (\S+) client', a.message())
        if a.what() == 'lsd_peer' and m: found.append(m.group(1))
    st = h.status()
    print(json.dumps({'seeding': st.is_seeding, 'lsdPeers': found, 'peers': len(h.get_peer_info())}), flush=True)
    if st.is_seeding and found: break
    time.sleep(0.02)
`

describe('local service discovery (BEP 14) in a network namespace', () => {
  it('lodestone download finds a libtorrent seeder through LSD alone and completes', async () => {
    const seedDir = await tempDir()
    await writeContent(seedDir, 'tree', TREE_FILES)
    const torrentPath = join(await tempDir(), 'tree.torrent')
    const created = await makeTorrent(seedDir, 'tree', 'v1', torrentPath)
    const outDir = await tempDir()
    const logs = await tempDir()
    const ltLog = join(logs, 'lt.jsonl')
    const dlLog = join(logs, 'download.jsonl')
    const script = [
      'set -u',
      'ip link set lo up && ip link set lo multicast on && ip route add 224.0.0.0/4 dev lo',
      // Lodestone first, so libtorrent's start-up announce reaches it (we dial: source 'lsd').
      `timeout 120 "$NODE" "$CLI" download "$MAGNET" -o "$OUT_DIR" --port ${LODESTONE_PORT} --no-dht --no-state --json --exit-on-complete > "$DL_LOG" 2>&1 &`,
      'dl=$!',
      'i=0; while [ $i -lt 200 ] && ! grep -q \'"type":"started"\' "$DL_LOG"; do sleep 0.05; i=$((i+1)); done',
      `"$PYTHON" -c "$LT_SEEDER" "$TORRENT" "$SEED_DIR" ${SEED_PORT} > "$LT_LOG" 2>&1 &`,
      'lt=$!',
      'wait $dl; code=$?',
      'kill $lt 2>/dev/null; wait $lt 2>/dev/null',
      'exit $code'
    ].join('\n')
    const child = spawn('unshare', ['--net', 'sh', '-c', script], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env, NODE: process.execPath, CLI, PYTHON: SYSTEM_PYTHON, LT_SEEDER, TORRENT: torrentPath, SEED_DIR: seedDir, OUT_DIR: outDir,
        MAGNET: buildMagnet({ infoHashV1: created.infoHashV1 }), LT_LOG: ltLog, DL_LOG: dlLog
      }
    })
    let output = ''
    child.stdout.setEncoding('utf8').on('data', (c: string) => { output += c })
    child.stderr.setEncoding('utf8').on('data', (c: string) => { output += c })
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
    const events = (await readFile(dlLog, 'utf8')).split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { type: string } & Record<string, unknown>)
    const ltTail = (await readFile(ltLog, 'utf8').catch(() => '')).split('\n').slice(-3).join('\n')
    expect(code, `${output}\n${JSON.stringify(events.filter((e) => e.type !== 'stats').slice(-10))}\n${ltTail}`).toBe(0)
    expect(await digestTree(join(outDir, 'tree'))).toEqual(await digestTree(join(seedDir, 'tree')))
    const seeder = events.find((e) => e.type === 'peer-connected' && String(e.address).endsWith(`:${SEED_PORT}`))
    expect(seeder?.source).toBe('lsd')
    expect(String(seeder?.client)).toMatch(/libtorrent/i)
  })

  for (const family of ['IPv4', 'IPv6'] as const) {
    it(`libtorrent finds a lodestone seed through LSD alone (${family}) and completes`, async () => {
      const seedDir = await tempDir()
      await writeContent(seedDir, 'tree', TREE_FILES)
      const torrentPath = join(await tempDir(), 'tree.torrent')
      await makeTorrent(seedDir, 'tree', 'v1', torrentPath)
      const outDir = await tempDir()
      const logs = await tempDir()
      const ltLog = join(logs, 'lt.jsonl')
      const seedLog = join(logs, 'seed.jsonl')
      // A veth pair: libtorrent on v0, Lodestone's announces leave by v1 (the multicast route).
      const net = [
        'ip link set lo up && ip link add v0 type veth peer name v1 && ip link set v0 up && ip link set v1 up',
        family === 'IPv4'
          ? 'ip addr add 10.0.0.1/24 dev v0 && ip addr add 10.0.0.2/24 dev v1 && ip route add 224.0.0.0/4 dev v1'
          : 'ip -6 addr add fd00::1/64 dev v0 nodad && ip -6 addr add fd00::2/64 dev v1 nodad'
      ]
      const ltIface = family === 'IPv4' ? `10.0.0.1:${SEED_PORT}` : `[fd00::1]:${SEED_PORT}`
      const host = family === 'IPv4' ? '0.0.0.0' : '::'
      const script = [
        'set -u',
        ...net,
        // libtorrent first: it must be listening when our seed's start-up announce goes out.
        `"$PYTHON" -c "$LT_LEECHER" "$TORRENT" "$OUT_DIR" '${ltIface}' > "$LT_LOG" 2>&1 &`,
        'lt=$!',
        'i=0; while [ $i -lt 200 ] && ! grep -q listening "$LT_LOG"; do sleep 0.05; i=$((i+1)); done',
        `timeout 60 "$NODE" "$CLI" seed "$TORRENT" -d "$SEED_DIR" --host '${host}' --port ${LODESTONE_PORT} --no-dht --no-port-mapping --json > "$SEED_LOG" 2>&1 &`,
        'seed=$!',
        'i=0; while [ $i -lt 400 ] && kill -0 $lt 2>/dev/null; do sleep 0.05; i=$((i+1)); done',
        'kill $lt 2>/dev/null; wait $lt; code=$?',
        'kill -TERM $seed 2>/dev/null; wait $seed',
        'exit $code'
      ].join('\n')
      const child = spawn('unshare', ['--net', 'sh', '-c', script], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, NODE: process.execPath, CLI, PYTHON: SYSTEM_PYTHON, LT_LEECHER, TORRENT: torrentPath, SEED_DIR: seedDir, OUT_DIR: outDir, LT_LOG: ltLog, SEED_LOG: seedLog }
      })
      let output = ''
      child.stdout.setEncoding('utf8').on('data', (c: string) => { output += c })
      child.stderr.setEncoding('utf8').on('data', (c: string) => { output += c })
      const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
      const seedLines = (await readFile(seedLog, 'utf8').catch(() => '')).split('\n')
      const events = seedLines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { type: string } & Record<string, unknown>)
      const ltLines = (await readFile(ltLog, 'utf8').catch(() => '')).split('\n').filter((l) => l.startsWith('{'))
      const last = JSON.parse(ltLines.at(-1) ?? '{}') as { seeding?: boolean, lsdPeers?: string[] }
      const context = `${output}\n${seedLines.filter((l) => !l.includes('"type":"stats"')).slice(-8).join('\n')}\n${ltLines.slice(-2).join('\n')}`
      expect(code, context).toBe(0)
      expect(last.seeding, context).toBe(true)
      expect(await digestTree(join(outDir, 'tree'))).toEqual(await digestTree(join(seedDir, 'tree')))
      // libtorrent's LSD found our listen port (the port our announce named, at the address it came
      // from: either end of the veth pair is this namespace's, and so ours), and nothing else could
      // have told it of us.
      const ours = family === 'IPv4' ? /^10\.0\.0\.[12]:7001$/ : /^\[fd00::[12]\]:7001$/
      const lsdPeers = [...new Set(last.lsdPeers)]
      expect(lsdPeers.length, context).toBe(1)
      expect(lsdPeers[0]).toMatch(ours)
      expect(events.some((e) => e.type === 'peer-connected' && /libtorrent/i.test(String(e.client)))).toBe(true)
      const engine = events.filter((e) => e.type === 'engine').at(-1) as { lsd?: { announcesOut: number } | null } | undefined
      expect(engine?.lsd?.announcesOut, context).toBeGreaterThanOrEqual(1)
    })
  }
})
