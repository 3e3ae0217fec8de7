/**
 * WebTorrent (the `webtorrent-cli` npm package, webtorrent 3) downloads from a Lodestone seeder
 * (issue 16). webtorrent opens every outgoing connection with the MSE/PE handshake and never
 * retries in plaintext, so before MSE it could not download from Lodestone at all.
 *
 * webtorrent-cli has no switches for DHT, LSD or UPnP, so the whole exchange runs in a private
 * network namespace with only `lo` (`unshare --net`, as root): the Lodestone CLI seeds there
 * (`lodestone seed --json`), and `webtorrent download` fetches a magnet whose `x.pe` names the
 * seeder (metadata, then the file). The files must be identical and the Lodestone side must
 * report the connection as MSE ('rc4' or 'plaintext' after the handshake, never 'none').
 *
 * Slow for now (~45 s): webtorrent dials uTP first, four times with back-off, before TCP, and
 * Lodestone does not answer uTP yet.
 */
import { spawn } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { SINGLE_FILE_BYTES, digestTree, makeTorrent, removeTempDirs, tempDir, writeContent } from '../helpers/fixtures.js'

const CLI = fileURLToPath(new URL('../../packages/cli/bin/lodestone.js', import.meta.url))
const WEBTORRENT = fileURLToPath(new URL('../../node_modules/webtorrent-cli/bin/cmd.js', import.meta.url))
/** Any port: the namespace is empty. */
const SEED_PORT = 6881

afterAll(async () => { await removeTempDirs() })

interface Run { code: number | null, seedEvents: Array<{ type: string } & Record<string, unknown>>, output: string }

/** Seeds with Lodestone and downloads with webtorrent inside one fresh network namespace. */
async function runInNamespace (torrentPath: string, seedDir: string, outDir: string, infoHash: string, mode: string): Promise<Run> {
  const seedLog = join(await tempDir(), 'seed.jsonl')
  const magnet = `magnet:?xt=urn:btih:${infoHash}&x.pe=127.0.0.1:${SEED_PORT}`
  const script = [
    'set -u',
    'ip link set lo up',
    `"$NODE" "$CLI" seed "$TORRENT" -d "$SEED_DIR" --port ${SEED_PORT} --host 127.0.0.1 --json --encryption ${mode} > "$SEED_LOG" 2>&1 &`,
    'seed=$!',
    // Wait for the seeder to have checked its data and to listen.
    'i=0; while [ $i -lt 200 ] && ! grep -q \'"type":"started"\' "$SEED_LOG"; do sleep 0.05; i=$((i+1)); done',
    'timeout 150 "$NODE" "$WEBTORRENT" download "$MAGNET" -o "$OUT_DIR" --quiet',
    'code=$?',
    'kill -TERM $seed; wait $seed',
    'exit $code'
  ].join('\n')
  const child = spawn('unshare', ['--net', 'sh', '-c', script], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE: process.execPath, CLI, WEBTORRENT, TORRENT: torrentPath, SEED_DIR: seedDir, SEED_LOG: seedLog, OUT_DIR: outDir, MAGNET: magnet }
  })
  let output = ''
  child.stdout.setEncoding('utf8').on('data', (c: string) => { output += c })
  child.stderr.setEncoding('utf8').on('data', (c: string) => { output += c })
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
  const seedEvents = (await readFile(seedLog, 'utf8')).split('\n').filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { type: string } & Record<string, unknown>)
  return { code, seedEvents, output }
}

describe('MSE/PE with WebTorrent (webtorrent-cli, private network namespace)', () => {
  it('webtorrent downloads from a Lodestone seeder: its encrypted opening is answered', async () => {
    const seedDir = await tempDir()
    await writeContent(seedDir, 'payload.bin', SINGLE_FILE_BYTES)
    const torrentPath = join(await tempDir(), 'test.torrent')
    const created = await makeTorrent(seedDir, 'payload.bin', 'v1', torrentPath)
    const outDir = await tempDir()
    const run = await runInNamespace(torrentPath, seedDir, outDir, Buffer.from(created.infoHashV1!).toString('hex'), 'prefer')
    expect(run.code, `${run.output}\n${JSON.stringify(run.seedEvents.filter((e) => e.type !== 'stats'))}`).toBe(0)
    expect(await digestTree(join(outDir, 'payload.bin'))).toEqual(await digestTree(join(seedDir, 'payload.bin')))
    const connected = run.seedEvents.filter((e) => e.type === 'peer-connected')
    expect(connected.length).toBeGreaterThanOrEqual(1)
    expect(String(connected[0]?.client)).toMatch(/WebTorrent/i)
    for (const e of connected) expect(['rc4', 'plaintext']).toContain(e.encryption)
  })
})
