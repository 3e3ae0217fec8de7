#!/usr/bin/env node
// bench/utp/transport.mjs: uTP alone (issue 11) — what one uTP connection costs over Node's UDP,
// without BitTorrent, storage or hashing: a sender process writes --size bytes into one UtpConnection
// (16 397-byte writes, a PIECE message's size), a receiver process counts them, both on 127.0.0.1
// through the engine's own NodeSocketFactory, UdpMux and UtpManager (the built dist). Payloads are
// --packet bytes (default 1 449, what libtorrent 2.0.8 sends on loopback; large loopback packets off),
// so the per-packet costs are those of bench/utp/run.mjs's mixed transfers (a) and (c).
// Each process measures itself from the connection to the last byte (process.cpuUsage: every thread).
//
//   node bench/utp/transport.mjs                          256 MiB, 3 rounds
//   options: --size N[K|M|G]  --rounds N  --packet BYTES
//            --dists dirA,dirB   A/B: other builds of packages/engine/dist, alternating within each round
// Prints per round and the medians: MB/s, receiver and sender CPU-s per GiB (user + system), the
// receiver's CPU µs per datagram, and packets received per STATE (ack) sent; then the floor: the CPU
// µs per datagram of a bare node:dgram receiver (an empty 'message' listener) fed datagrams of the
// same size — what any JavaScript uTP on Node pays before its own code runs. Decide A/B by CPU-s
// per GiB (wall-clock is noise while other work runs); the load is printed. Build first: npx tsc -b.
import { fork } from 'node:child_process'
import { loadavg } from 'node:os'
import { fileURLToPath } from 'node:url'
import { commandLine, median, parseSize, requireBuild, sizeText } from '../lib/transfer.mjs'

const self = fileURLToPath(import.meta.url)
const role = process.argv[2]

if (role === 'floor-recv' || role === 'floor-send') {
  // The floor: bare node:dgram, no uTP. The sender sends bursts of 24 datagrams a turn (what a
  // receiver reads per poll under load); the receiver measures the datagrams it got.
  const { createSocket } = await import('node:dgram')
  const [, , , countText, packetText, port] = process.argv
  const count = Number(countText)
  if (role === 'floor-recv') {
    const socket = createSocket({ type: 'udp4', recvBufferSize: 4 << 20 })
    let got = 0
    let start
    socket.on('message', () => {
      if (got++ === 0) start = process.cpuUsage()
      if (got === count) {
        const cpu = process.cpuUsage(start)
        process.send({ event: 'result', datagrams: count, userSeconds: cpu.user / 1e6, systemSeconds: cpu.system / 1e6 })
      }
    })
    socket.bind(0, '127.0.0.1', () => { process.send({ event: 'ready', port: socket.address().port }) })
  } else {
    const socket = createSocket({ type: 'udp4', sendBufferSize: 4 << 20, lookup: (host, _options, cb) => { cb(null, host, 4) } })
    const datagram = new Uint8Array(Number(packetText) + 20)
    let bursts = Math.ceil(3 * count / 24)
    const burst = () => {
      for (let i = 0; i < 24; i++) socket.send(datagram, Number(port), '127.0.0.1')
      if (--bursts > 0) setImmediate(burst)
    }
    socket.bind(0, '127.0.0.1', burst)
  }
  process.on('disconnect', () => { process.exit(0) })
} else if (role === 'recv' || role === 'send') {
  const [, , , dist, sizeText_, packetText, port] = process.argv
  const { NodeSocketFactory } = await import(`${dist}/adapters/node/node-socket-factory.js`)
  const { SystemClock } = await import(`${dist}/adapters/node/node-clock.js`)
  const { UtpManager } = await import(`${dist}/src/transport/utp/utp-manager.js`)
  const { UdpMux } = await import(`${dist}/src/transport/udp-mux.js`)
  const total = Number(sizeText_)
  const socket = await new NodeSocketFactory().bindUdp(0, '127.0.0.1')
  const manager = new UtpManager({ channel: new UdpMux(socket, {}).channel('utp'), clock: new SystemClock() },
    { loopbackPacketBytes: 0, packetBytesIPv4: Number(packetText) })
  let startCpu = process.cpuUsage()
  let startMs = performance.now()
  const result = (bytes) => {
    const cpu = process.cpuUsage(startCpu)
    const stats = manager.stats()
    return { seconds: (performance.now() - startMs) / 1000, bytes, userSeconds: cpu.user / 1e6, systemSeconds: cpu.system / 1e6, packetsIn: stats.packetsIn, packetsOut: stats.packetsOut }
  }
  if (role === 'recv') {
    manager.onConnection((connection) => {
      startCpu = process.cpuUsage()
      startMs = performance.now()
      let received = 0
      connection.onBorrowedData((data) => {
        received += data.length
        if (received === total) process.send({ event: 'result', ...result(received) })
      })
    })
    process.send({ event: 'ready', port: manager.localPort })
  } else {
    const connection = await manager.connect('127.0.0.1', Number(port))
    startCpu = process.cpuUsage()
    startMs = performance.now()
    const chunk = new Uint8Array(16_397).fill(7)
    let sent = 0
    const pump = () => {
      while (sent < total) {
        const n = Math.min(chunk.length, total - sent)
        sent += n
        if (!connection.send(n === chunk.length ? chunk : chunk.subarray(0, n))) return
      }
    }
    connection.onDrain(pump)
    pump()
    // The parent asks for the result once the receiver has every byte.
    process.on('message', () => { process.send({ event: 'result', ...result(sent) }) })
  }
  process.on('disconnect', () => { manager.close(); process.exit(0) })
} else {
  const { opt } = commandLine()
  const sizeBytes = parseSize(opt('size', '256M'))
  const rounds = Number(opt('rounds', 3))
  const packet = Number(opt('packet', 1449))
  const defaultDist = fileURLToPath(new URL('../../packages/engine/dist', import.meta.url))
  const dists = opt('dists', defaultDist).split(',')
  if (dists.includes(defaultDist)) requireBuild('bench/utp/transport')

  const child = (args) => fork(self, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const next = (proc, event) => new Promise((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`no '${event}' within 120 s`)) }, 120_000)
    proc.on('message', (m) => { if (m.event === event) { clearTimeout(timer); resolve(m) } })
    proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`child exited (${code}) before '${event}'`)) })
  })
  const perGiB = (r) => (r.userSeconds + r.systemSeconds) / r.bytes * 2 ** 30
  const usPerDatagram = (r) => `${((r.userSeconds + r.systemSeconds) / r.packetsIn * 1e6).toFixed(2)} (user ${(r.userSeconds / r.packetsIn * 1e6).toFixed(2)})`

  async function once (dist) {
    const receiver = child(['recv', dist, String(sizeBytes), String(packet)])
    const { port } = await next(receiver, 'ready')
    const sender = child(['send', dist, String(sizeBytes), String(packet), String(port)])
    try {
      const recv = await next(receiver, 'result')
      const sendResult = next(sender, 'result')
      sender.send('result')
      const send = await sendResult
      return { mbps: recv.bytes / recv.seconds / 1e6, recv, send }
    } finally {
      receiver.disconnect()
      sender.disconnect()
    }
  }

  console.log(`bench/utp/transport: ${sizeText(sizeBytes)} over one uTP connection on 127.0.0.1, ${packet}-byte payloads, ${rounds} round(s), node ${process.version}`)
  console.log(`load average before ${loadavg().map((l) => l.toFixed(2)).join(' ')} (other work on the machine skews wall-clock rates; compare CPU-s)`)
  const runs = new Map(dists.map((d) => [d, []]))
  for (let round = 0; round < rounds; round++) {
    for (const dist of round % 2 === 0 ? dists : [...dists].reverse()) {
      const load = loadavg()[0]
      const r = await once(dist)
      runs.get(dist).push(r)
      console.log(`  round ${round + 1} load ${load.toFixed(1)} ${dists.length > 1 ? dist + ' ' : ''}${r.mbps.toFixed(0)} MB/s; receiver ${perGiB(r.recv).toFixed(2)} CPU-s/GiB (user ${(r.recv.userSeconds / r.recv.bytes * 2 ** 30).toFixed(2)}; ${usPerDatagram(r.recv)} µs per datagram), ${(r.recv.packetsIn / Math.max(1, r.recv.packetsOut)).toFixed(1)} packets per ack; sender ${perGiB(r.send).toFixed(2)} CPU-s/GiB (user ${(r.send.userSeconds / r.send.bytes * 2 ** 30).toFixed(2)})`)
    }
  }
  console.log(`load average after ${loadavg().map((l) => l.toFixed(2)).join(' ')}`)
  for (const [dist, rs] of runs) {
    const summary = {
      dist,
      mbps: Math.round(median(rs.map((r) => r.mbps))),
      receiverCpuPerGiB: Number(median(rs.map((r) => perGiB(r.recv))).toFixed(2)),
      senderCpuPerGiB: Number(median(rs.map((r) => perGiB(r.send))).toFixed(2)),
      packetsPerAck: Number(median(rs.map((r) => r.recv.packetsIn / Math.max(1, r.recv.packetsOut))).toFixed(1)),
      receiverUsPerDatagram: Number(median(rs.map((r) => (r.recv.userSeconds + r.recv.systemSeconds) / r.recv.packetsIn * 1e6)).toFixed(2))
    }
    console.log(`median: ${summary.mbps} MB/s, receiver ${summary.receiverCpuPerGiB} CPU-s/GiB (${summary.receiverUsPerDatagram} µs per datagram), sender ${summary.senderCpuPerGiB} CPU-s/GiB, ${summary.packetsPerAck} packets per ack${dists.length > 1 ? `  (${dist})` : ''}`)
    console.log(JSON.stringify({ bench: 'utp-transport', sizeBytes, packet, rounds, ...summary }))
  }

  // The floor, once per run: bare node:dgram at the same datagram size.
  const floors = []
  for (let round = 0; round < rounds; round++) {
    const count = 150_000
    const receiver = child(['floor-recv', String(count), String(packet)])
    const { port } = await next(receiver, 'ready')
    const sender = child(['floor-send', String(count), String(packet), String(port)])
    try {
      floors.push(await next(receiver, 'result'))
    } finally {
      receiver.disconnect()
      sender.disconnect()
    }
  }
  const floorUs = median(floors.map((f) => (f.userSeconds + f.systemSeconds) / f.datagrams * 1e6))
  const floorUserUs = median(floors.map((f) => f.userSeconds / f.datagrams * 1e6))
  console.log(`floor: bare node:dgram receive ${floorUs.toFixed(2)} µs per datagram (user ${floorUserUs.toFixed(2)}), median of ${rounds}; load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`)
  console.log(JSON.stringify({ bench: 'utp-transport-floor', packet, rounds, usPerDatagram: Number(floorUs.toFixed(2)), userUsPerDatagram: Number(floorUserUs.toFixed(2)) }))
}
