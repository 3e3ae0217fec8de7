// Child process of crash-campaign.test.ts and crash-resume.test.ts (plan none: the test does the
// killing): a Lodestone engine (the dist build's node preset) with a state directory that
// restores its session (or adds the torrent on the first run), downloads from the libtorrent
// seeder, and — per the test's `plan` for this run — kills itself with SIGKILL at a chosen point
// of a storage move or a session save. It reports JSON lines on stdout:
//   {type:'restored', pieces, states, root}  at the first downloading/seeding state: the pieces it
//                                            starts with and the directory its files are in
//   {type:'saved', pieces}                   engine.saveState() resolved; every piece listed was
//                                            verified before the save began, so it is in the record
//   {type:'killing', at}                     the kill point was reached (SIGKILL follows at once)
//   {type:'progress', have} every 100 ms; {type:'error', code, path} on a torrent error;
//   {type:'completed'} / {type:'closed'} (with a plan, completing does not end the run: the plan
//   then runs on the complete torrent; a plan that ends without reaching its kill point exits 3)
// plan: { kind: 'none' } | { kind: 'move', to, afterPieces, killAt: 'copying'|'between-files'|'copied' }
//       | { kind: 'save', afterPieces, killAt: 'record-write'|'data-sync' }
import { existsSync, readFileSync, statSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'

const cfg = JSON.parse(process.argv[2])
const plan = cfg.plan ?? { kind: 'none' }
const { createNodeEngine } = await import(pathToFileURL(cfg.presetPath).href)
const emit = (value) => { process.stdout.write(JSON.stringify(value) + '\n') }
const die = (at) => { emit({ type: 'killing', at }); process.kill(process.pid, 'SIGKILL') }

const engine = createNodeEngine({
  downloadPath: cfg.downloadDir,
  stateDir: cfg.stateDir,
  port: 0,
  host: '127.0.0.1',
  hasherWorkers: 1,
  logLevel: 'off',
  settings: {
    session: { bitfieldSaveDelayMs: cfg.bitfieldSaveDelayMs },
    picker: { sequential: true },
    discovery: { trackers: false, pex: false }
  }
})
engine.on('warning', ({ error }) => { emit({ type: 'warning', code: error?.code, message: String(error?.message ?? error) }) })

let torrent = null
let restoredHave = 0
const states = []
const rootOf = (t) => engine.storageRoots.getRootForTorrent(t.id)?.path ?? null
engine.on('torrent-added', ({ torrent: t }) => {
  let reported = false
  t.on('state-changed', ({ to }) => {
    states.push(to)
    if (!reported && (to === 'downloading' || to === 'seeding')) {
      reported = true
      restoredHave = t.bitfield().count
      emit({ type: 'restored', pieces: [...t.bitfield().ones()], states: [...states], root: rootOf(t) })
    }
  })
})

/** Polls `condition` on every turn of the event loop (the move and the save await between steps). */
function killWhen (at, condition) {
  const poll = () => {
    let hit = false
    try { hit = condition() } catch { hit = false }
    if (hit) die(at)
    else setImmediate(poll)
  }
  setImmediate(poll)
}

const { restored, failed } = await engine.restoreSession()
for (const f of failed) emit({ type: 'restore-failed', id: f.id, code: f.error.code, message: f.error.message })
torrent = restored[0] ?? await engine.addTorrent(new Uint8Array(await readFile(cfg.torrentPath)))
torrent.addPeer(`127.0.0.1:${cfg.seederPort}`)
if (torrent.state === 'stopped') emit({ type: 'not-started', state: torrent.state })
torrent.on('error', ({ error }) => { emit({ type: 'error', code: error.code, path: error.details?.path ?? null, message: error.message }) })

async function saveAndReport () {
  const before = [...torrent.bitfield().ones()]
  await engine.saveState()
  emit({ type: 'saved', pieces: before })
}

async function runMove () {
  await saveAndReport()
  const from = rootOf(torrent)
  const marker = (root) => join(root, '.lodestone.parts', `${torrent.id}.move`)
  const names = cfg.fileNames.map((n) => join(cfg.torrentName, n))
  const sizes = cfg.fileSizes
  if (plan.killAt === 'copying') killWhen('copying', () => existsSync(marker(plan.to)))
  else if (plan.killAt === 'between-files') {
    // Some files complete at the new place, some not yet.
    killWhen('between-files', () => {
      const done = names.filter((n, i) => { try { return statSync(join(plan.to, n)).size === sizes[i] } catch { return false } }).length
      return done > 0 && done < names.length
    })
  } else if (plan.killAt === 'copied') killWhen('copied', () => JSON.parse(readFileSync(marker(from), 'utf8')).phase === 'copied')
  emit({ type: 'move-started', from, to: plan.to })
  await torrent.moveStorage(plan.to)
  emit({ type: 'moved', root: rootOf(torrent) })
}

async function runSave () {
  if (plan.killAt === 'record-write') {
    // The session store's pack file grew: a batch of records is appended, perhaps not synced yet.
    const pack = join(cfg.stateDir, 'session.pack')
    const before = statSync(pack).size
    killWhen('record-write', () => statSync(pack).size > before)
  } else {
    // The save has taken its bitfield snapshot and is syncing the data files (before any record write).
    setImmediate(() => die('data-sync'))
  }
  await saveAndReport()
}

let planStarted = false
const timer = setInterval(() => {
  emit({ type: 'progress', have: torrent.stats().havePieces, state: torrent.state })
  // Once it has more pieces than it started with — or has them all: a long campaign outlasts the
  // download, and moving or saving a complete torrent is a kill point too.
  const ready = (torrent.state === 'downloading' && torrent.bitfield().count >= restoredHave + plan.afterPieces) || torrent.state === 'seeding'
  if (!planStarted && plan.kind !== 'none' && ready) {
    planStarted = true
    const run = plan.kind === 'move' ? runMove() : runSave()
    // Reaching here means the kill point never came: end, so the test sees no SIGKILL and says so.
    run.then(() => { process.exit(3) }, (e) => { emit({ type: 'plan-failed', code: e?.code, message: String(e?.message ?? e) }); process.exit(4) })
  }
}, 100)

const finish = async () => {
  emit({ type: 'completed', root: rootOf(torrent) })
  // With a kill planned, completing is not the end: the plan runs on the complete torrent.
  if (plan.kind !== 'none') return
  clearInterval(timer)
  await engine.close()
  emit({ type: 'closed' })
  process.exit(0)
}
if (torrent.isComplete && torrent.state === 'seeding') void finish()
else torrent.on('completed', () => { void finish() })
