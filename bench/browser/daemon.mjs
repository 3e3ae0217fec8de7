#!/usr/bin/env node
// bench/browser/daemon.mjs: the io-daemon's own CPU per GiB on the bridge's download path, without
// a browser (whose CPU swings far more than the daemon's at load). A child process serves SIZE
// bytes over TCP; a second child is the engine's end (DaemonConnection + DaemonSocketFactory over
// `ws`, as in Node tests): it dials the source through the daemon, assembles 1 MiB pieces and writes
// each back through the bridge (FILE_WRITE into a daemon root), as the browser engine does. This
// process runs the daemon and prints its CPU seconds (user / system) per GiB.
//   node bench/browser/daemon.mjs [--size 512M] [--rounds 3]
// Build first: npx tsc -b.
import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { startIoDaemon } from '../../packages/io-daemon/dist/index.js'

const argv = process.argv.slice(2)
const opt = (name, fallback) => { const i = argv.indexOf(`--${name}`); return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1] : fallback }
const size = (() => { const m = /^(\d+)([KMG]?)$/i.exec(opt('size', '512M')); return Number(m[1]) * { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[m[2].toUpperCase()] })()
const rounds = Number(opt('rounds', '3'))

const sourceCode = `
const net = require('node:net'); const size = Number(process.argv[1])
const chunk = require('node:crypto').randomBytes(1 << 20)
const server = net.createServer((s) => {
  let sent = 0
  const pump = () => { while (sent < size) { const n = Math.min(chunk.length, size - sent); sent += n; if (!s.write(n === chunk.length ? chunk : chunk.subarray(0, n))) { s.once('drain', pump); return } } s.end() }
  pump()
}).listen(0, '127.0.0.1', () => { process.stdout.write(server.address().port + '\\n') })
`
const clientCode = `
import WebSocket from 'ws'
import { DaemonConnection, DaemonSocketFactory, DaemonFileSystem, BridgeFileWriter } from '@lodestone/engine/adapters/daemon'
const [port, token, rootKey, sourcePort] = process.argv.slice(1)
// Chromium sends a message over 131 000 bytes as several WebSocket frames (its data pipe's chunks);
// so does this engine end, so the daemon sees what a browser sends.
class ChromiumLikeWebSocket extends WebSocket {
  send (data) {
    if (data.length <= 131_000) { super.send(data); return }
    for (let at = 0; at < data.length; at += 131_000) super.send(data.subarray(at, at + 131_000), { binary: true, fin: at + 131_000 >= data.length })
  }
}
const conn = await DaemonConnection.connect({ port: Number(port), authToken: token, WebSocket: ChromiumLikeWebSocket })
const fs = new DaemonFileSystem({ httpBase: conn.httpBase, authToken: token, rootKey, writer: new BridgeFileWriter(conn) })
const h = await fs.open('out.bin', 'w')
const start = performance.now()
const socket = await new DaemonSocketFactory(conn).connectTcp('127.0.0.1', Number(sourcePort))
const piece = new Uint8Array(1 << 20); let fill = 0; let offset = 0; const writes = []
socket.onData((data) => {
  for (let at = 0; at < data.length;) {
    const n = Math.min(piece.length - fill, data.length - at)
    piece.set(data.subarray(at, at + n), fill); fill += n; at += n
    if (fill === piece.length) { writes.push(h.write(piece, offset)); offset += fill; fill = 0 }
  }
})
await new Promise((resolve) => { socket.onClose(resolve) })
if (fill > 0) writes.push(h.write(piece.subarray(0, fill), offset))
await Promise.all(writes); await h.close()
process.stdout.write(JSON.stringify({ seconds: (performance.now() - start) / 1000 }) + '\\n')
conn.close()
`
const lineOf = (child) => new Promise((resolve, reject) => {
  let buf = ''
  child.stdout.on('data', (d) => { buf += d; const i = buf.indexOf('\n'); if (i >= 0) resolve(buf.slice(0, i)) })
  child.on('exit', (code) => { reject(new Error(`child exited ${code}`)) })
})

const dir = await mkdtemp(join(tmpdir(), 'lodestone-daemon-bench-'))
const daemon = await startIoDaemon({ roots: [{ label: 'bench', dir }] })
const source = spawn(process.execPath, ['-e', sourceCode, String(size)], { stdio: ['ignore', 'pipe', 'inherit'] })
const sourcePort = await lineOf(source)
const rows = []
for (let r = 0; r < rounds; r++) {
  const load = loadavg()[0]
  const cpu0 = process.cpuUsage()
  const client = spawn(process.execPath, ['--input-type=module', '-e', clientCode, String(daemon.port), daemon.token, daemon.roots[0].key, sourcePort], { stdio: ['ignore', 'pipe', 'inherit'], cwd: process.cwd() })
  const { seconds } = JSON.parse(await lineOf(client))
  const cpu = process.cpuUsage(cpu0)
  const perGiB = (us) => us / 1e6 / (size / 2 ** 30)
  rows.push(perGiB(cpu.user + cpu.system))
  process.stdout.write(`round ${r + 1} (load ${load.toFixed(1)}): ${(size / 1e6 / seconds).toFixed(0)} MB/s; io-daemon CPU s per GiB ${perGiB(cpu.user + cpu.system).toFixed(2)} (user ${perGiB(cpu.user).toFixed(2)}, sys ${perGiB(cpu.system).toFixed(2)})\n`)
  await rm(join(dir, 'out.bin'), { force: true })
}
rows.sort((a, b) => a - b)
process.stdout.write(`median io-daemon CPU s per GiB: ${rows[Math.floor(rows.length / 2)].toFixed(2)}\n`)
source.kill()
await daemon.close()
await rm(dir, { recursive: true, force: true })
