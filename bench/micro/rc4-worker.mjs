#!/usr/bin/env node
// Would RC4 in a worker thread pay (issue 16)? 256 MiB through the core's Rc4 inline, against
// handing 64 KiB chunks of the (reused) read buffer to a worker and back: copy into a transferable
// buffer, postMessage with transfer, RC4 there, post back, copy into the read buffer; 8 chunks in
// flight. Prints the process's CPU seconds (both threads) and wall time for each.
// Results 2026-12-07, load 25-30: inline 0.39-0.40 CPU-s, worker 0.58-0.59 CPU-s (+45-50 %);
// wall 1.46 vs 0.95 s when the second core had room.
//
//   npx tsc -b && node bench/micro/rc4-worker.mjs
import { Worker } from 'node:worker_threads'
const dist = new URL('../../packages/engine/dist', import.meta.url).pathname
const w = new Worker(`
const { parentPort } = require('node:worker_threads')
import('${dist}/src/transport/mse/rc4.js').then(({ Rc4 }) => {
  const c = new Rc4(new Uint8Array(20).fill(7), 1024)
  parentPort.on('message', (buf) => { c.process(new Uint8Array(buf)); parentPort.postMessage(buf, [buf]) })
  parentPort.postMessage('ready')
})`, { eval: true })
await new Promise((r) => w.once('message', r))
const { Rc4 } = await import(`${dist}/src/transport/mse/rc4.js`)
const readBuf = new Uint8Array(1 << 20)
const CH = 65536, N = 4096 // 256 MiB
// main-thread only
{ const c = new Rc4(new Uint8Array(20).fill(7), 1024); const t = process.cpuUsage(); const t0 = performance.now()
  for (let k = 0; k < N; k++) c.process(readBuf.subarray((k % 16) * CH, (k % 16 + 1) * CH))
  const u = process.cpuUsage(t); console.log('inline RC4: main CPU', ((u.user + u.system) / 1e6).toFixed(2), 's, wall', ((performance.now() - t0) / 1000).toFixed(2), 's per 256 MiB') }
// worker, 8 in flight
{ const t = process.cpuUsage(); const t0 = performance.now(); let sent = 0, got = 0
  await new Promise((resolve) => {
    const send = () => { const b = new ArrayBuffer(CH); new Uint8Array(b).set(readBuf.subarray((sent % 16) * CH, (sent % 16 + 1) * CH)); sent++; w.postMessage(b, [b]) }
    w.on('message', (b) => { readBuf.subarray(0, CH).set(new Uint8Array(b)); got++; if (got === N) resolve(); else if (sent < N) send() })
    for (let k = 0; k < 8; k++) send()
  })
  const u = process.cpuUsage(t); console.log('worker RC4: process CPU (both threads)', ((u.user + u.system) / 1e6).toFixed(2), 's, wall', ((performance.now() - t0) / 1000).toFixed(2), 's per 256 MiB') }
await w.terminate()
