// Child process of miniupnpd.test.ts, run inside the test's LAN network namespace: a Lodestone
// engine (the dist build's node preset, so the real NodePortMapper) listening on all interfaces
// with port mapping on. JSON lines on stdout:
//   {type:'listening', port}               the listen port is bound
//   {type:'port-mapping', ...event}        each mapping event (mapped / renewal / failed / removed)
//   {type:'stats', portMapping}            answer to a 'stats' line on stdin
//   {type:'closed', portMapping}           after a 'close' line on stdin: engine.close() returned
import { createInterface } from 'node:readline'
import { pathToFileURL } from 'node:url'

const cfg = JSON.parse(process.argv[2])
const { createNodeEngine } = await import(pathToFileURL(cfg.presetPath).href)
const emit = (value) => { process.stdout.write(JSON.stringify(value) + '\n') }

const engine = createNodeEngine({
  downloadPath: cfg.dir,
  port: cfg.port,
  host: '',
  logLevel: 'off',
  hasherWorkers: 1,
  settings: {
    discovery: { dht: false, lsd: false, pex: false, portMapping: true },
    portMapping: { enabled: true, upnp: cfg.upnp, natPmp: cfg.natPmp, leaseSec: cfg.leaseSec, retryMs: 1_000 }
  }
})
engine.on('port-mapping', (e) => { emit({ type: 'port-mapping', ...e, error: e.error?.message }) })
engine.on('warning', ({ error }) => { emit({ type: 'warning', message: String(error?.message ?? error) }) })
emit({ type: 'listening', port: await engine.listen() })

const stats = () => {
  const s = engine.stats().portMapping
  return { ...s, mappings: s.mappings.map((m) => ({ ...m, lastError: m.lastError?.message ?? null })) }
}
for await (const line of createInterface({ input: process.stdin })) {
  if (line === 'stats') emit({ type: 'stats', portMapping: stats() })
  if (line === 'close') {
    await engine.close()
    emit({ type: 'closed', portMapping: stats() })
    break
  }
}
