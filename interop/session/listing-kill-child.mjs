// Child of listing-kill.test.ts: an engine on a state directory (the packed store, durable) that
// restores, then adds and removes torrents at random until it is killed. One line per step on stdout:
// "restored <ids,...>", "adding <id>", "added <id>", "removing <id>", "removed <id>".
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'

const [presetPath, indexPath, stateDir, dataDir, torrentsDir, seedArg] = process.argv.slice(2)
const { createNodeEngine } = await import(presetPath)
const { testingSettings } = await import(indexPath)
const say = (line) => { process.stdout.write(line + '\n') }
const engine = createNodeEngine({
  downloadPath: dataDir, stateDir, host: '127.0.0.1', port: 0, logLevel: 'off', hasherWorkers: 1,
  settings: testingSettings({ discovery: { trackers: false } })
})
engine.on('warning', ({ error }) => { say(`warning ${String(error?.message ?? error)}`) })
const files = readdirSync(torrentsDir).filter((f) => f.endsWith('.torrent')).sort().map((f) => readFileSync(join(torrentsDir, f)))
const ids = JSON.parse(readFileSync(join(torrentsDir, 'ids.json'), 'utf8'))
const { restored, failed } = await engine.restoreSession()
if (failed.length > 0) say(`failed ${failed.map((f) => f.id).join(',')}`)
say(`restored ${restored.map((t) => t.id).join(',')}`)
const inEngine = new Set(restored.map((t) => t.id))
let state = Number(seedArg) >>> 0
const random = () => { state = (state * 1664525 + 1013904223) >>> 0; return state / 2 ** 32 }
for (;;) {
  // A few at once (distinct torrents): the store commits their writes together, as a busy engine does.
  const picks = new Set(Array.from({ length: 1 + Math.floor(random() * 4) }, () => Math.floor(random() * files.length)))
  await Promise.all([...picks].map(async (i) => {
    const id = ids[i]
    if (inEngine.has(id)) {
      say(`removing ${id}`)
      await engine.removeTorrent(id)
      inEngine.delete(id)
      say(`removed ${id}`)
    } else {
      say(`adding ${id}`)
      await engine.addTorrent(files[i], { start: false })
      inEngine.add(id)
      say(`added ${id}`)
    }
  }))
}
