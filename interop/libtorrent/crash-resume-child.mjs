// Child process of crash-resume.test.ts: a Lodestone engine (the dist build's node preset) with a
// state directory that restores its session, or adds the torrent on the first run, downloads from
// the libtorrent seeder and reports JSON lines on stdout:
//   {type:'restored', pieces:[...], states:[...]}  when it first reaches downloading/seeding:
//                                  the pieces it starts with (trusted from resume data or re-checked)
//   {type:'progress', have}        every 100 ms
//   {type:'completed'} / {type:'closed'}
// The test SIGKILLs it at random moments; nothing here tries to exit cleanly except on completion.
import { readFile } from 'node:fs/promises'
import { pathToFileURL } from 'node:url'

const cfg = JSON.parse(process.argv[2])
const { createNodeEngine } = await import(pathToFileURL(cfg.presetPath).href)
const emit = (value) => { process.stdout.write(JSON.stringify(value) + '\n') }

const engine = createNodeEngine({
  downloadPath: cfg.downloadDir,
  stateDir: cfg.stateDir,
  port: 0,
  host: '127.0.0.1',
  hasherWorkers: 1,
  logLevel: 'off',
  settings: {
    session: { bitfieldSaveDelayMs: cfg.bitfieldSaveDelayMs },
    // Files finish one after another and are then never written again: a restart after a crash
    // trusts them from the resume data while the file being written is re-checked.
    picker: { sequential: true },
    discovery: { trackers: false, pex: false }
  }
})
engine.on('warning', ({ error }) => { emit({ type: 'warning', message: String(error?.message ?? error) }) })

let reported = false
const states = []
engine.on('torrent-added', ({ torrent }) => {
  torrent.on('state-changed', ({ to }) => {
    states.push(to)
    if (!reported && (to === 'downloading' || to === 'seeding')) {
      reported = true
      // Synchronously at the transition: nothing downloaded yet in this run.
      emit({ type: 'restored', pieces: [...torrent.bitfield().ones()], states: [...states] })
    }
  })
})

const { restored, failed } = await engine.restoreSession()
for (const f of failed) emit({ type: 'restore-failed', id: f.id, code: f.error.code, message: f.error.message })
const torrent = restored[0] ?? await engine.addTorrent(new Uint8Array(await readFile(cfg.torrentPath)))
torrent.addPeer(`127.0.0.1:${cfg.seederPort}`)
if (torrent.state === 'stopped') emit({ type: 'not-started', state: torrent.state })

const timer = setInterval(() => { emit({ type: 'progress', have: torrent.stats().havePieces, state: torrent.state }) }, 100)
const finish = async () => {
  clearInterval(timer)
  emit({ type: 'completed' })
  await engine.close()
  emit({ type: 'closed' })
  process.exit(0)
}
if (torrent.isComplete && torrent.state === 'seeding') void finish()
else torrent.on('completed', () => { void finish() })
torrent.on('error', ({ error }) => { emit({ type: 'error', code: error.code, message: error.message }) })
