// What does MSE/PE cost on the CPU, and is a native RC4 worth a port? Questions:
//   1. RC4 throughput of the core's pure-TypeScript cipher (in place, word loop) against a plain
//      byte-at-a-time loop and against OpenSSL's RC4 through node:crypto (which allocates its output;
//      "+ copy back" puts it where the in-place data path needs it). OpenSSL 3 keeps RC4 in its
//      legacy provider, so that row only runs with NODE_OPTIONS=--openssl-legacy-provider.
//   2. The Diffie-Hellman cost of one handshake side: a key pair (2^x mod P) plus the shared secret.
//
// Run: NODE_OPTIONS=--openssl-legacy-provider node -e "import('vite').then((v) => v.runnerImport('./bench/micro/mse.bench.ts'))"
//
// Last result (Debian 12, 2 vCPU AMD EPYC, Node 20.20.2, machine shared with other jobs at load ~6-8,
// so the wall-time rows here swing ±50%). Steadier CPU-time figures: bench/micro/rc4-cpu.mjs.
//   DH key pair + shared secret         ~0.42 ms per handshake side (160-bit exponents)
// RC4 (rc4-cpu.mjs, 2026-12-07 16:21 UTC, load 25): the core's WebAssembly kernel ~690-730 MiB/s on
// every shape; its JavaScript loops ~470-520 (up to ~690 for the word loop when V8 is kind);
// OpenSSL's RC4 + copy back ~540-750. The kernel matches OpenSSL without its legacy provider, so
// there is still no native cipher port.
import { createCipheriv } from 'node:crypto'
import { bench, do_not_optimize, group, run, summary } from 'mitata'
import { seededRandom } from '../../packages/engine/src/interfaces/random.js'
import { createDhKeyPair, dhSharedSecret } from '../../packages/engine/src/transport/mse/dh.js'
import { Rc4 } from '../../packages/engine/src/transport/mse/rc4.js'

const KEY = new Uint8Array(20).map((_, i) => i * 7 + 1)
const big = new Uint8Array(1 << 20)
const ours = new Rc4(KEY, 1024)
const oursJs = new Rc4(KEY, 1024, false)
// Sent blocks: each its own 16 KiB buffer (the upload path reads a fresh copy per block).
const blocks = Array.from({ length: 64 }, () => new Uint8Array(16_384))

// The textbook loop, for comparison.
const s = new Uint8Array(256)
for (let i = 0; i < 256; i++) s[i] = i
let si = 0
let sj = 0
function byteLoop (data: Uint8Array): void {
  let i = si
  let j = sj
  for (let k = 0; k < data.length; k++) {
    i = (i + 1) & 255
    const a = s[i]!
    j = (j + a) & 255
    const b = s[j]!
    s[i] = b
    s[j] = a
    data[k]! ^= s[(a + b) & 255]!
  }
  si = i
  sj = j
}

let openssl: ((data: Uint8Array) => void) | null = null
try {
  const cipher = createCipheriv('rc4', Buffer.from(KEY), null)
  openssl = (data) => { data.set(cipher.update(data)) }
} catch {
  console.log('OpenSSL RC4 unavailable (run with NODE_OPTIONS=--openssl-legacy-provider to include it)')
}

summary(() => {
  group('RC4 1 MiB in place', () => {
    bench('Rc4 (core, wasm kernel), 1 MiB', () => { ours.process(big) })
    bench('Rc4 (core, wasm kernel), 16 KiB x 64', () => {
      for (let at = 0; at < big.length; at += 16_384) ours.process(big.subarray(at, at + 16_384))
    })
    bench('Rc4 (core, wasm kernel), 64 sent blocks', () => { for (const b of blocks) ours.process(b) })
    bench('Rc4 (core, JS loops), 1 MiB', () => { oursJs.process(big) })
    bench('Rc4 (core, JS loops), 16 KiB x 64', () => {
      for (let at = 0; at < big.length; at += 16_384) oursJs.process(big.subarray(at, at + 16_384))
    })
    bench('Rc4 (core, JS loops), 64 sent blocks', () => { for (const b of blocks) oursJs.process(b) })
    bench('byte-at-a-time RC4, 1 MiB', () => { byteLoop(big) })
    if (openssl !== null) {
      const run = openssl
      bench('OpenSSL RC4 + copy back, 1 MiB', () => { run(big) })
    }
  })
})

const random = seededRandom(1)
const peer = createDhKeyPair(random)
group('DH', () => {
  bench('DH key pair + shared secret', () => {
    do_not_optimize(dhSharedSecret(createDhKeyPair(random).privateKey, peer.publicKey))
  })
})

await run()
