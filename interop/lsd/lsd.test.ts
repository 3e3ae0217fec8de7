/**
 * BEP 14 local service discovery (issue 10) in a private network namespace the test creates
 * (`unshare --net`, lo up with multicast on and 224.0.0.0/4 routed to it): a libtorrent 2.0.8
 * seeder with LSD on and `lodestone download` of a bare magnet with LSD on (DHT off, no tracker,
 * no peers) find each other with no other source; the download completes byte-identical and the
 * seeder's connection reports source 'lsd'.
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
})
