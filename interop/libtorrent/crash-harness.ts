/**
 * What the crash tests share (crash-resume.test.ts, crash-campaign.test.ts): a multi-file torrent
 * of deterministic bytes, a libtorrent 2.0.8 seeder with an upload cap (so a download outlasts the
 * kills), child processes speaking JSON lines, and a reader that hashes a piece straight from disk.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { closeSync, mkdirSync, openSync, readSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { bencodeEncode } from '@lodestone/engine/protocol'
import { LIBTORRENT_PRELUDE } from '../helpers/libtorrent.js'
import { SYSTEM_PYTHON } from '../helpers/python.js'

export const CRASH_PIECE_BYTES = 64 * 1024
const FILE_SIZES = [600_001, 550_000, 700_003, 480_000, 650_000, 520_007, 610_000, 333_333]

function bytes (length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length)
  let x = (seed * 2654435761) >>> 0
  for (let i = 0; i < length; i++) {
    x = (x ^ (x << 13)) >>> 0
    x = (x ^ (x >>> 17)) >>> 0
    x = (x ^ (x << 5)) >>> 0
    out[i] = x & 0xff
  }
  return out
}

export interface CrashContent {
  /** The torrent's folder name. */
  name: string
  files: Array<{ path: string, data: Uint8Array }>
  total: number
  pieceCount: number
  pieceHashes: string[]
  torrentPath: string
}

/** Writes the payload under `seedDir/<name>/` and its .torrent to `torrentPath`. */
export function makeCrashContent (name: string, seedDir: string, torrentPath: string): CrashContent {
  const files = FILE_SIZES.map((size, i) => ({ path: `f${i}.bin`, data: bytes(size, i + 1) }))
  const total = FILE_SIZES.reduce((a, b) => a + b, 0)
  const pieceCount = Math.ceil(total / CRASH_PIECE_BYTES)
  const all = new Uint8Array(total)
  let off = 0
  for (const f of files) { all.set(f.data, off); off += f.data.length }
  const pieceHashes = Array.from({ length: pieceCount }, (_, p) => createHash('sha1').update(all.subarray(p * CRASH_PIECE_BYTES, (p + 1) * CRASH_PIECE_BYTES)).digest('hex'))
  for (const f of files) {
    const p = join(seedDir, name, f.path)
    mkdirSync(dirname(p), { recursive: true })
    writeFileSync(p, f.data)
  }
  const pieces = new Uint8Array(pieceCount * 20)
  pieceHashes.forEach((h, i) => pieces.set(Buffer.from(h, 'hex'), i * 20))
  writeFileSync(torrentPath, bencodeEncode({
    info: { name, 'piece length': CRASH_PIECE_BYTES, pieces, files: files.map((f) => ({ length: f.data.length, path: [f.path] })) }
  }))
  return { name, files, total, pieceCount, pieceHashes, torrentPath }
}

/** Reads piece `p` from `<dir>/<name>/` (missing files and bytes read as zeros). */
export function pieceOnDisk (content: CrashContent, dir: string, p: number): Uint8Array {
  const start = p * CRASH_PIECE_BYTES
  const end = Math.min(start + CRASH_PIECE_BYTES, content.total)
  const out = new Uint8Array(end - start)
  let fileStart = 0
  for (const f of content.files) {
    const fileEnd = fileStart + f.data.length
    const from = Math.max(start, fileStart)
    const to = Math.min(end, fileEnd)
    if (from < to) {
      let fd: number | null = null
      try {
        fd = openSync(join(dir, content.name, f.path), 'r')
        readSync(fd, out, from - start, to - from, from - fileStart)
      } catch {
        // missing: zeros
      } finally {
        if (fd !== null) closeSync(fd)
      }
    }
    fileStart = fileEnd
  }
  return out
}

/** The pieces of `list` whose bytes in `dir` do not hash to the torrent's hash. */
export function badPiecesOnDisk (content: CrashContent, dir: string, list: readonly number[]): number[] {
  return list.filter((p) => createHash('sha1').update(pieceOnDisk(content, dir, p)).digest('hex') !== content.pieceHashes[p])
}

/** A libtorrent seeder of `torrentPath` from `savePath`, capped at `rateBytesPerSec`; resolves with its port. */
export async function startCappedSeeder (torrentPath: string, savePath: string, rateBytesPerSec: number): Promise<{ port: number, child: ChildProcess }> {
  const script = `${LIBTORRENT_PRELUDE}
import os
parent = os.getppid()
base = lt.high_performance_seed()
base.update({'listen_interfaces': '127.0.0.1:0', 'outgoing_interfaces': '127.0.0.1', 'enable_dht': False,
  'dht_bootstrap_nodes': '', 'enable_lsd': False, 'enable_upnp': False, 'enable_natpmp': False,
  'enable_ip_notifier': False, 'enable_outgoing_utp': False, 'enable_incoming_utp': False,
  'allow_multiple_connections_per_ip': True})
ses = lt.session(base)
atp = lt.add_torrent_params()
atp.ti = lt.torrent_info(INPUT['torrent'])
atp.save_path = INPUT['save']
atp.flags &= ~(lt.torrent_flags.paused | lt.torrent_flags.auto_managed)
atp.flags |= lt.torrent_flags.disable_dht | lt.torrent_flags.disable_lsd | lt.torrent_flags.disable_pex
h = ses.add_torrent(atp)
h.set_upload_limit(INPUT['rate'])
deadline = time.time() + 20
while not h.status().is_seeding and time.time() < deadline:
    time.sleep(0.05)
emit({'port': ses.listen_port(), 'seeding': h.status().is_seeding})
while os.getppid() == parent:
    time.sleep(0.2)
`
  const child = spawn(SYSTEM_PYTHON, ['-c', script], { stdio: ['pipe', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stderr.setEncoding('utf8').on('data', (d: string) => { err += d })
  child.stdin.end(JSON.stringify({ torrent: torrentPath, save: savePath, rate: rateBytesPerSec }))
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d
      for (const line of out.split('\n')) {
        if (!line.startsWith('{')) continue
        const msg = JSON.parse(line) as { port: number, seeding: boolean }
        if (!msg.seeding) reject(new Error('libtorrent seeder did not reach seeding'))
        else resolve(msg.port)
      }
    })
    child.on('exit', (code) => { reject(new Error(`libtorrent seeder exited with ${code}: ${err.slice(-2000)}`)) })
  })
  return { port, child }
}

export interface ChildMessage { type: string, pieces?: number[], states?: string[], have?: number, code?: string, message?: string, root?: string | null, path?: string | null, at?: string }

/** Runs a Node child script with one JSON argument; `onMessage` sees every JSON line. Resolves with its exit signal, or `exit N`. */
export function runNodeChild (script: string, config: object, children: Set<ChildProcess>, onMessage: (msg: ChildMessage, child: ChildProcess) => void): { child: ChildProcess, exited: Promise<string> } {
  const child = spawn(process.execPath, [script, JSON.stringify(config)], { stdio: ['ignore', 'pipe', 'pipe'] })
  children.add(child)
  let buffered = ''
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    buffered += d
    let nl: number
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl)
      buffered = buffered.slice(nl + 1)
      if (line.startsWith('{')) onMessage(JSON.parse(line) as ChildMessage, child)
    }
  })
  const exited = new Promise<string>((resolve) => {
    child.on('exit', (code, signal) => {
      children.delete(child)
      resolve(signal ?? `exit ${code}${code !== 0 ? `: ${stderr.slice(-2000)}` : ''}`)
    })
  })
  return { child, exited }
}
