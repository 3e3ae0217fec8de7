// bench/browser's io-daemon in a process of its own, as `lodestone io-daemon` runs it: in the bench
// process its collections walked the harness's heap too (Playwright, the bench), which cost the
// bridge ~3 CPU-s of garbage collection per GiB that a real daemon does not pay. Started by bench.ts
// with fork(); options as JSON in argv[2]; answers { t: 'stats' } and { t: 'close' } over IPC.
import { startIoDaemon } from '../../packages/io-daemon/dist/index.js'

const daemon = await startIoDaemon(JSON.parse(process.argv[2]))
process.send({ t: 'ready', port: daemon.port, token: daemon.token, roots: daemon.roots })
process.on('message', (m) => {
  if (m.t === 'stats') process.send({ t: 'stats', id: m.id, stats: daemon.fileStats() })
  if (m.t === 'close') void daemon.close().then(() => { process.exit(0) })
})
process.on('disconnect', () => { process.exit(0) })
