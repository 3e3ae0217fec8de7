// One end of interop/utp/bottleneck.test.ts, run by bottleneck-run.mjs in one of the test's
// network namespaces: a Lodestone engine (the dist build's node preset) with TCP peer connections
// off, so the torrent moves over uTP only (DHT, LSD, port mapping, PEX and trackers off), or one end
// of a bulk TCP flow.
//   node bottleneck-peer.mjs '{"role":"seed","presetPath","host","torrentPath","dir"}'
//       prints {"type":"ready","port"} once seeding, then runs until stdin closes.
//   node bottleneck-peer.mjs '{"role":"leech","presetPath","host","torrentPath","dir","peerHost","peerPort"}'
//       prints {"type":"progress","t","bytes"} every 50 ms (t: Date.now(), bytes: payload bytes
//       received), {"type":"completed"} when done; runs until stdin closes.
//   node bottleneck-peer.mjs '{"role":"tcp-receive","host"}'
//       a TCP server on host: prints {"type":"ready","port"}, then progress lines as the leecher.
//   node bottleneck-peer.mjs '{"role":"tcp-send","host","peerPort"}'
//       one bulk TCP flow to host:peerPort, as fast as the path takes it.
// Every role exits when stdin closes; the engine roles first print {"type":"utp", ...counters}.
import { readFileSync } from 'node:fs'
import { connect, createServer } from 'node:net'
import { pathToFileURL } from 'node:url'

const cfg = JSON.parse(process.argv[2])
const emit = (value) => { process.stdout.write(JSON.stringify(value) + '\n') }
const closed = new Promise((resolve) => {
  process.stdin.on('data', () => {})
  process.stdin.on('end', resolve)
  process.stdin.on('close', resolve)
})

if (cfg.role === 'tcp-receive') {
  let received = 0
  const server = createServer((socket) => { socket.on('data', (d) => { received += d.length }); socket.on('error', () => {}) })
  await new Promise((resolve) => server.listen(0, cfg.host, resolve))
  emit({ type: 'ready', port: server.address().port })
  const timer = setInterval(() => { emit({ type: 'progress', t: Date.now(), bytes: received }) }, 50)
  await closed
  clearInterval(timer)
  process.exit(0)
}
if (cfg.role === 'tcp-send') {
  const client = connect(cfg.peerPort, cfg.host)
  const chunk = new Uint8Array(256 * 1024)
  const pump = () => { while (client.write(chunk)); }
  client.on('drain', pump)
  client.on('connect', pump)
  client.on('error', () => {})
  await closed
  process.exit(0)
}

const { createNodeEngine } = await import(pathToFileURL(cfg.presetPath).href)

const engine = createNodeEngine({
  downloadPath: cfg.dir,
  port: 0,
  host: cfg.host,
  hasherWorkers: 1,
  logLevel: 'off',
  settings: {
    transport: { tcp: false, utp: true },
    discovery: { dht: false, lsd: false, portMapping: false, pex: false, trackers: false },
    ...(cfg.settings ?? {})
  }
})
const metainfo = new Uint8Array(readFileSync(cfg.torrentPath))
let timer
if (cfg.role === 'seed') {
  const torrent = await engine.addTorrent(metainfo)
  await new Promise((resolve) => {
    const check = () => { if (torrent.state === 'seeding') resolve() }
    torrent.on('state-changed', check)
    check()
  })
  emit({ type: 'ready', port: engine.port })
} else {
  const torrent = await engine.addTorrent(metainfo, { peers: [`${cfg.peerHost}:${cfg.peerPort}`] })
  torrent.on('completed', () => { emit({ type: 'completed', t: Date.now() }) })
  timer = setInterval(() => { emit({ type: 'progress', t: Date.now(), bytes: torrent.stats().downloadedBytes }) }, 50)
}
await closed
clearInterval(timer)
emit({ type: 'utp', ...(engine.stats().udp?.utp ?? {}) })
await engine.close()
process.exit(0)
