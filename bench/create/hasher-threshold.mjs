// Where should NodeHasher stop hashing inline and start using its workers?
// For each input size: sequential latency (await one digest at a time) and pipelined throughput
// (8 digests in flight) with everything inline vs everything in the pool.
// Run: npx tsc -b && node bench/create/hasher-threshold.mjs
import { NodeHasher } from '../../packages/engine/dist/adapters/node/index.js'

const sizes = [64, 1024, 4096, 16_384, 65_536, 262_144, 1_048_576]
const inline = new NodeHasher({ inlineMaxBytes: Number.MAX_SAFE_INTEGER })
const pool = new NodeHasher({ inlineMaxBytes: 0 })

async function measure (hasher, size, inFlight) {
  const data = new Uint8Array(size).fill(3)
  const totalBytes = Math.max(64 * 1024 * 1024, size * 200)
  const count = Math.max(200, Math.floor(totalBytes / size / 4))
  // warm up (workers start lazily)
  await Promise.all(Array.from({ length: 8 }, () => hasher.digest('sha256', data)))
  const t0 = performance.now()
  let next = 0
  async function lane () { while (next < count) { next++; await hasher.digest('sha256', data) } }
  await Promise.all(Array.from({ length: inFlight }, lane))
  const ms = performance.now() - t0
  return { usPerOp: (ms * 1000) / count, mbps: (size * count) / (ms / 1000) / 1e6 }
}

console.log('size      inline-seq(us)  pool-seq(us)   inline-x8(MB/s)  pool-x8(MB/s)')
for (const size of sizes) {
  const a = await measure(inline, size, 1)
  const b = await measure(pool, size, 1)
  const c = await measure(inline, size, 8)
  const d = await measure(pool, size, 8)
  console.log(String(size).padEnd(9), a.usPerOp.toFixed(1).padStart(14), b.usPerOp.toFixed(1).padStart(13),
    c.mbps.toFixed(0).padStart(17), d.mbps.toFixed(0).padStart(14))
}
await inline.close()
await pool.close()
