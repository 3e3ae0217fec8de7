// Child process of bench/soak/run.mjs: one Lodestone engine (the dist build's node preset) on
// 127.0.0.1 that seeds the soak torrent (mode 'seed') or downloads it over and over (mode 'leech':
// download, seed a while, remove with its files, add again). Commands arrive as JSON lines on
// stdin ({cmd:'connect', port}, {cmd:'sample'}, {cmd:'snapshot', path}, {cmd:'quit'}); it answers on stdout with JSON lines.
// A sample carries what only the process itself can see: Node's active handles and requests by
// kind (timers, TCP sockets, file handles...), the heap after a full GC, and the engine's connection counts.
import { readFile, rm } from 'node:fs/promises'
import { writeHeapSnapshot } from 'node:v8'
import { createInterface } from 'node:readline'
import { pathToFileURL } from 'node:url'

const cfg = JSON.parse(process.argv[2])
const { createNodeEngine } = await import(pathToFileURL(cfg.presetPath).href)
const emit = (value) => { process.stdout.write(JSON.stringify(value) + '\n') }

const engine = createNodeEngine({
  downloadPath: cfg.dir,
  port: 0,
  host: '127.0.0.1',
  hasherWorkers: 1,
  logLevel: 'off',
  settings: {
    discovery: { dht: false, lsd: false, portMapping: false, pex: false, trackers: false },
    dht: { enabled: false, bootstrapNodes: [] },
    portMapping: { enabled: false },
    rateLimit: { uploadRateBytesPerSec: cfg.uploadRate, downloadRateBytesPerSec: cfg.downloadRate }
  }
})
let warnings = 0
engine.on('warning', () => { warnings++ })
const torrentBytes = new Uint8Array(await readFile(cfg.torrentPath))
const known = new Set(cfg.peers ?? [])
let torrent = await engine.addTorrent(torrentBytes)
let rounds = 0
let port = 0

function dialKnown () { for (const p of known) torrent.addPeer(`127.0.0.1:${p}`) }

async function cycle () {
  // Leecher: once complete, seed for a while, then drop everything and start over.
  rounds++
  emit({ type: 'round', rounds })
  await new Promise((resolve) => setTimeout(resolve, cfg.seedAfterCompleteMs))
  await engine.removeTorrent(torrent.id, { deleteFiles: true })
  await rm(`${cfg.dir}/${cfg.name}`, { recursive: true, force: true })
  torrent = await engine.addTorrent(torrentBytes)
  watch()
  dialKnown()
}
function watch () {
  if (cfg.mode !== 'leech') return
  torrent.once('completed', () => { void cycle().catch((e) => emit({ type: 'cycle-error', message: String(e?.message ?? e) })) })
}
watch()

const started = Date.now()
for (;;) {
  port = engine.port ?? 0
  if (port > 0 || Date.now() - started > 10_000) break
  await new Promise((resolve) => setTimeout(resolve, 50))
}
emit({ type: 'listening', port, infoHash: torrent.infoHash })
dialKnown()

function kinds () {
  const out = {}
  for (const k of process.getActiveResourcesInfo()) out[k] = (out[k] ?? 0) + 1
  return out
}

for await (const line of createInterface({ input: process.stdin })) {
  let cmd
  try { cmd = JSON.parse(line) } catch { continue }
  if (cmd.cmd === 'connect') { known.add(cmd.port); torrent.addPeer(`127.0.0.1:${cmd.port}`) } else if (cmd.cmd === 'sample') {
    // After a full collection (the driver runs us with --expose-gc): what is still reachable.
    globalThis.gc?.()
    const s = torrent.stats()
    const c = engine.stats().connections
    const m = process.memoryUsage()
    emit({ type: 'sample', resources: kinds(), heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers, connections: c, peers: s.peers, state: s.state, havePieces: s.havePieces, uploaded: s.uploadedBytes, downloaded: s.downloadedBytes, rounds, warnings })
  } else if (cmd.cmd === 'snapshot') {
    globalThis.gc?.()
    emit({ type: 'snapshot', path: writeHeapSnapshot(cmd.path) })
  } else if (cmd.cmd === 'quit') break
}
await engine.close()
emit({ type: 'closed' })
process.exit(0)
