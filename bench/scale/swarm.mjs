#!/usr/bin/env node
// bench/scale swarm (issue 13): an in-memory swarm of n peers in one process — 1 seed and n-1
// leechers, each a full engine (createMemoryEngine) on the memory network, driven by the manual
// clock, so it measures the engine's CPU per simulated peer, not the machine's network.
// By default each leecher is given the seed and 16 random other leechers and PEX is on, so the
// swarm meshes (~45-50 CPU-s at 100 peers in session 4: see RESULTS.md for why).
// Target: 1 000 peers complete in <= 60 s of wall time. The CI test (packages/engine/test/swarm/
// thousand-peers.test.ts) is this scenario:
//   node bench/scale/swarm.mjs --peers 1000 --size-kib 32 --piece-kib 16 --known 4 --seed-known 0 --pex 0
// (each peer told of up to 4 random peers that joined before it, as a tracker's small answer would).
// Prints one JSON line: CPU-s, peak RSS, virtual time, and `churn` — connections made and why they ended.
//
//   node bench/scale/swarm.mjs                 100 peers, 1 MiB torrent, 64 KiB pieces
//   options: --peers N  --size-kib N  --piece-kib N  --uplink-kbps N (KiB/s per host, default 512)
//            --known N (peers each one is told of, default 16)  --seed-known 0|1 (every leecher is
//            also told of the seed, default 1)  --pex 0|1 (default 1)  --real-backoff 0|1 (the
//            engine's default dial back-offs instead of the testing settings' 1 s, default 0)
// Build first: npx tsc -b.
import { createHash } from 'node:crypto'
import { loadavg } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { performance } from 'node:perf_hooks'

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const { createMemoryEngine } = await import(join(repo, 'packages/engine/dist/presets/memory.js'))
const { MemoryNetwork, ManualClock, MemoryFileSystem } = await import(join(repo, 'packages/engine/dist/adapters/memory/index.js'))
const { seededRandom } = await import(join(repo, 'packages/engine/dist/src/interfaces/random.js'))
const { bencodeEncode } = await import(join(repo, 'packages/engine/dist/src/protocol/bencode.js'))

const argv = process.argv.slice(2)
const opt = (name, fallback) => {
  const i = argv.indexOf(`--${name}`)
  return i >= 0 && argv[i + 1] !== undefined ? Number(argv[i + 1]) : fallback
}
const peers = opt('peers', 100)
const sizeBytes = opt('size-kib', 1024) * 1024
const pieceBytes = opt('piece-kib', 64) * 1024
const uplink = opt('uplink-kbps', 512) * 1024
const knownCount = opt('known', 16)
const seedKnown = opt('seed-known', 1) === 1
const pex = opt('pex', 1) === 1
// The memory preset's testing settings retry a failed dial after 1 s (and so never take the quick
// re-dial path for hang-ups, whose 2 s is longer); --real-backoff 1 uses the engine's real defaults.
const realBackoff = opt('real-backoff', 0) === 1

/** node:crypto, resolved at once: deterministic under the manual clock. */
class SyncHasher {
  concurrency = 2
  async digest (algorithm, data) {
    const h = createHash(algorithm)
    for (const d of data instanceof Uint8Array ? [data] : data) h.update(d)
    return new Uint8Array(h.digest())
  }

  async close () {}
}

const random = seededRandom(13)
const data = new Uint8Array(sizeBytes)
random.fill(data)
const hashes = new Uint8Array(Math.ceil(sizeBytes / pieceBytes) * 20)
for (let p = 0; p * pieceBytes < sizeBytes; p++) hashes.set(createHash('sha1').update(data.subarray(p * pieceBytes, (p + 1) * pieceBytes)).digest(), p * 20)
const torrent = bencodeEncode({ info: { length: sizeBytes, name: 'swarm.bin', 'piece length': pieceBytes, pieces: hashes } })

const clock = new ManualClock()
const network = new MemoryNetwork({ clock, random: seededRandom(14) }, { latencyMs: 20 })
const address = (i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${(i & 255) + 1}`
const hasher = new SyncHasher()
const cpu0 = process.cpuUsage()
const t0 = performance.now()
const engines = []
let seeding = 0
/** Connections made and closed (with why): what the swarm spends its CPU on. */
const churn = { connected: 0 }
const torrents = []
for (let i = 0; i < peers; i++) {
  const fs = new MemoryFileSystem({ clock })
  if (i === 0) {
    const h = await fs.open('swarm.bin', 'w')
    await h.write(data, 0)
    await h.close()
  }
  const engine = createMemoryEngine({
    socketFactory: network.host(address(i), { uploadBytesPerSec: uplink }),
    clock,
    fs,
    hasher,
    random: seededRandom(100 + i),
    // Plain TCP: MSE's Diffie-Hellman is BigInt arithmetic in the core (≈ 10 ms a handshake) and
    // would measure that, not the swarm; uTP is measured by bench/utp.
    settings: {
      listen: { port: 6881 },
      discovery: { pex, trackers: false },
      encryption: { mode: 'disable' },
      transport: { utp: false },
      ...(realBackoff ? { connection: { retryBackoffMs: 30_000, connectTimeoutMs: 10_000 } } : {})
    }
  })
  engines.push(engine)
  const known = seedKnown
    ? (i === 0 ? [] : [`${address(0)}:6881`, ...Array.from({ length: Math.min(knownCount, i - 1) }, () => `${address(1 + Math.floor(random.next() * (i - 1)))}:6881`)])
    : [...new Set(Array.from({ length: Math.min(knownCount, i) }, () => `${address(Math.floor(random.next() * i))}:6881`))]
  const t = await engine.addTorrent(torrent, { peers: known })
  // Counted from events: a predicate that scans every torrent after every timer would be O(n) per timer.
  t.on('state-changed', ({ to }) => { if (to === 'seeding') seeding++ })
  t.on('peer-connected', () => { churn.connected++ })
  t.on('peer-disconnected', ({ reason }) => { const k = `closed ${reason?.code ?? 'none'} ${reason?.details?.reason ?? ''}`.slice(0, 90); churn[k] = (churn[k] ?? 0) + 1 })
  t.on('peer-handshake-failed', ({ reason }) => { const k = `handshake ${reason?.code} ${reason?.details?.reason ?? ''}`.slice(0, 90); churn[k] = (churn[k] ?? 0) + 1 })
  torrents.push(t)
}
const setupMs = performance.now() - t0
if (process.env.SWARM_DEBUG) setInterval(() => { console.error(`virtual ${(clock.now() / 1000).toFixed(1)} s, ${seeding} seeding, CPU ${(process.cpuUsage(cpu0).user / 1e6).toFixed(1)} s`, JSON.stringify(churn)) }, 5_000).unref()
if (process.env.SWARM_STOP_SEC) setTimeout(() => { process.exit(3) }, Number(process.env.SWARM_STOP_SEC) * 1000).unref()
const stopVirtualMs = Number(process.env.SWARM_STOP_VIRTUAL_SEC ?? 3_600) * 1000
const done = await clock.runUntil(() => seeding === peers || clock.now() >= stopVirtualMs, 3_600_000) && seeding === peers
const wallMs = performance.now() - t0
if (process.env.SWARM_HEAP_SNAPSHOT === '1') console.error('heap snapshot:', (await import('node:v8')).writeHeapSnapshot())
const cpu = process.cpuUsage(cpu0)
const complete = torrents.filter((t) => t.state === 'seeding').length
console.log(JSON.stringify({
  peers, sizeBytes, pieceBytes, known: knownCount, seedKnown, pex, realBackoff, complete, done,
  simulatedSec: clock.now() / 1000,
  setupMs: Math.round(setupMs),
  wallSec: wallMs / 1000,
  cpuSec: (cpu.user + cpu.system) / 1e6,
  peakRssMB: process.resourceUsage().maxRSS / 1024,
  load: loadavg()[0],
  churn
}))
await Promise.all(engines.map(async (e) => e.close()))
process.exit(done ? 0 : 1)
