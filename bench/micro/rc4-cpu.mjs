#!/usr/bin/env node
// RC4 throughput in CPU time (steadier than wall time on a shared machine): the core's cipher
// through its WebAssembly kernel vs its JavaScript loops, on the three shapes the data path has —
// reads decrypted in place in the transport's 1 MiB shared read buffer (64 KiB and 16 KiB reads)
// and sent blocks (each its own 16 KiB buffer, plus the 13-byte PIECE header). OpenSSL's RC4
// (node:crypto, output allocated per call, copied back) joins when run with
// --openssl-legacy-provider. Best of 9 runs of 4 MiB each, after a warm-up round.
//
//   npx tsc -b && node --openssl-legacy-provider bench/micro/rc4-cpu.mjs [dist dir]
import { createCipheriv } from 'node:crypto'
import { loadavg } from 'node:os'

const dist = process.argv[2] ?? new URL('../../packages/engine/dist', import.meta.url).pathname
const { Rc4 } = await import(`${dist}/src/transport/mse/rc4.js`)
const KEY = new Uint8Array(20).map((_, i) => i * 7 + 1)
const readBuffer = new Uint8Array(1 << 20)
const blocks = Array.from({ length: 64 }, () => new Uint8Array(16_384))
const header = new Uint8Array(13)

const shapes = (process) => ({
  'reads of 64 KiB in the 1 MiB buffer': () => { for (let at = 0; at < readBuffer.length; at += 65_536) process(readBuffer.subarray(at, at + 65_536)) },
  'reads of 16 KiB in the 1 MiB buffer': () => { for (let at = 0; at < readBuffer.length; at += 16_384) process(readBuffer.subarray(at, at + 16_384)) },
  'sent blocks (header + 16 KiB)': () => { for (const b of blocks) { process(header); process(b) } }
})
const ciphers = {
  'wasm kernel': (() => { const c = new Rc4(KEY, 1024); return (d) => c.process(d) })(),
  'JS loops': (() => { const c = new Rc4(KEY, 1024, false); return (d) => c.process(d) })()
}
try {
  const c = createCipheriv('rc4', Buffer.from(KEY), null)
  ciphers['OpenSSL + copy back'] = (d) => { d.set(c.update(d)) }
} catch {
  console.log('(OpenSSL RC4 unavailable: run with --openssl-legacy-provider to include it)')
}

console.log(`rc4-cpu: node ${process.version}, load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}`)
for (const [shape] of Object.entries(shapes(() => {}))) {
  const row = []
  for (const [name, process_] of Object.entries(ciphers)) {
    const fn = shapes(process_)[shape]
    let best = Infinity
    for (let round = 0; round < 10; round++) {
      const t = process.cpuUsage()
      for (let k = 0; k < 4; k++) fn()
      const u = process.cpuUsage(t)
      if (round > 0) best = Math.min(best, (u.user + u.system) / 1e6)
    }
    row.push(`${name} ${(4 / best).toFixed(0)} MiB/s`)
  }
  console.log(`${shape.padEnd(38)} ${row.join('   ')}`)
}
