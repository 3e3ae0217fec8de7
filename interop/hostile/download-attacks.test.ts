/**
 * Hostile peers against `lodestone download` (issue 15; the hostile suite attacks `seed`). The
 * built CLI fetches a magnet while scripted liars (hostile-seeder.ts, each on its own 127.0.0.x)
 * serve it, and an honest libtorrent 2.0.8 seeder, capped at a steady rate, must still deliver:
 *
 * - metadata phase, the liars alone first: one announces a metadata_size one piece too big, one
 *   sends random bytes of the right size, one sends another torrent's real info dict, one rejects
 *   every request. Each of the first three is closed once its metadata fails the info hash (a
 *   METADATA_INVALID warning each), the rejecter only delays; then libtorrent dials in and the
 *   metadata comes from it.
 * - data phase: one liar claims every piece and answers each REQUEST with random bytes — its
 *   pieces fail the hash (16 KiB pieces, one block each, so each failure names exactly one peer)
 *   and its host is banned after download.hashFailuresBeforeBan (2) failures and never dialled
 *   again; another claims every piece and never answers — its requests go to libtorrent instead.
 *
 * The download completes byte-identical, and its data rate is at least 80 % of a run of the same
 * magnet with libtorrent alone (measured first, same seeder). Prints the table for the record.
 */
import { createHash, randomBytes } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { pollUntil, removeTempDirs, tempDir } from '../helpers/fixtures.js'
import { startLibtorrentPeer, type LibtorrentPeer } from '../helpers/libtorrent-peer.js'
import { bencode } from './hostile-peer.js'
import { HostileSeeder, type HostileBehavior } from './hostile-seeder.js'
import { startLodestoneDownload, type CliEvent, type LodestoneProcess } from './lodestone-process.js'

const PIECE_BYTES = 16_384
const PAYLOAD_BYTES = 6 * 1024 * 1024 + 5_000
const HONEST_RATE_CAP = 3 * 1024 * 1024

const processes: LodestoneProcess[] = []
const liars: HostileSeeder[] = []
let seeder: LibtorrentPeer | null = null
afterAll(async () => {
  for (const p of processes) p.kill()
  await Promise.all(liars.map(async (l) => { await l.close() }))
  await seeder?.close()
  await removeTempDirs()
})

/** A v1 info dict for `data` (bencoded here, independent of the engine). */
function infoDict (name: string, data: Uint8Array): Buffer {
  const pieces: Buffer[] = []
  for (let off = 0; off < data.length; off += PIECE_BYTES) pieces.push(createHash('sha1').update(data.subarray(off, off + PIECE_BYTES)).digest())
  return bencode({ length: data.length, name, 'piece length': PIECE_BYTES, pieces: Buffer.concat(pieces) })
}

const ofType = (p: LodestoneProcess, type: string): CliEvent[] => p.events.filter((e) => e.type === type)
const timeOf = (p: LodestoneProcess, type: string): number => Number(ofType(p, type)[0]?.time ?? NaN)

async function exitOf (p: LodestoneProcess, timeoutMs: number): Promise<CliEvent> {
  return p.waitForEvent((e) => e.type === 'exit', timeoutMs, 'the download to exit')
}

describe('hostile peers against lodestone download, with an honest libtorrent seeder', () => {
  it('closes metadata liars, bans a peer whose pieces fail the hash, routes around one that never serves; libtorrent still delivers at >= 80 % of its rate', async () => {
    const seedDir = await tempDir()
    const data = randomBytes(PAYLOAD_BYTES)
    await writeFile(join(seedDir, 'dl.bin'), data)
    const info = infoDict('dl.bin', data)
    const infoHash = createHash('sha1').update(info).digest()
    const torrentPath = join(await tempDir(), 'dl.torrent')
    await writeFile(torrentPath, Buffer.concat([Buffer.from('d4:info'), info, Buffer.from('e')]))
    const otherInfo = infoDict('other.bin', randomBytes(2 * 1024 * 1024))
    const magnet = `magnet:?xt=urn:btih:${infoHash.toString('hex')}`

    seeder = await startLibtorrentPeer({ torrentPath, savePath: seedDir, mode: 'seed', torrentUploadLimit: HONEST_RATE_CAP })
    const lt = seeder
    await lt.waitFor((s) => s.isSeeding, 20_000, 'libtorrent to seed')

    // Without attack: libtorrent alone.
    const baseDir = await tempDir()
    const base = await startLodestoneDownload({ input: magnet, dir: baseDir, args: ['--peer', `127.0.0.1:${lt.port}`, '--exit-on-complete'] })
    processes.push(base)
    expect(await exitOf(base, 60_000)).toMatchObject({ code: 0, reason: 'completed' })
    const baseRate = PAYLOAD_BYTES / ((timeOf(base, 'completed') - timeOf(base, 'metadata')) / 1000)
    expect(Buffer.compare(await readFile(join(baseDir, 'dl.bin')), data)).toBe(0)

    // Under attack.
    const behaviors: HostileBehavior[] = ['metadata-wrong-size', 'metadata-garbage', 'metadata-other-torrent', 'metadata-rejects', 'bad-data', 'never-serves']
    const by = new Map<HostileBehavior, HostileSeeder>()
    for (const [i, behavior] of behaviors.entries()) {
      const liar = new HostileSeeder({ behavior, host: `127.0.0.${i + 2}`, infoHash, infoBytes: info, otherInfoBytes: otherInfo })
      await liar.listen()
      liars.push(liar)
      by.set(behavior, liar)
    }
    const get = (b: HostileBehavior): HostileSeeder => by.get(b)!
    const dir = await tempDir()
    const attacked = await startLodestoneDownload({ input: magnet, dir, args: [...liars.flatMap((l) => ['--peer', l.address]), '--exit-on-complete'] })
    processes.push(attacked)
    // The liars alone: each metadata lie is tried and its liar closed; the rejecter is asked and rejects.
    const lied = (b: HostileBehavior): boolean => get(b).liesSent > 0 && get(b).closedByLodestone > 0
    const liarState = (): string => liars.map((l) => `${l.address} accepted ${l.accepted} closed ${l.closedByLodestone} asked ${l.metadataRequests} lies ${l.liesSent} rejects ${l.rejectsSent}`).join('; ')
    await pollUntil(() => lied('metadata-wrong-size') && lied('metadata-garbage') && lied('metadata-other-torrent') && get('metadata-rejects').rejectsSent > 0,
      20_000, 'every metadata liar to have lied and been closed').catch((error: unknown) => {
      throw new Error(`${String(error)}: ${liarState()}; lodestone said ${JSON.stringify(attacked.events.filter((e) => e.type !== 'stats').slice(-12))}`)
    })
    expect(ofType(attacked, 'metadata')).toEqual([])
    const honestAt = Date.now()
    lt.connect('127.0.0.1', attacked.port)
    expect(await exitOf(attacked, 60_000)).toMatchObject({ code: 0, reason: 'completed' })
    expect(Buffer.compare(await readFile(join(dir, 'dl.bin')), data)).toBe(0)
    const rate = PAYLOAD_BYTES / ((timeOf(attacked, 'completed') - timeOf(attacked, 'metadata')) / 1000)

    const metadataWarnings = ofType(attacked, 'warning').filter((e) => e.code === 'METADATA_INVALID')
    const bad = get('bad-data')
    const badHost = bad.address.split(':')[0]!
    const hashFailures = ofType(attacked, 'hash-failed')
    const blamed = hashFailures.filter((e) => (e.peers as string[]).includes(badHost))
    const ban = ofType(attacked, 'peer-banned').find((e) => e.host === badHost)
    const banAt = ban === undefined ? Infinity : Number(ban.time) - Date.now() + performance.now()
    const never = get('never-serves')
    const rows = [
      `| metadata_size one piece too big | ${get('metadata-wrong-size').liesSent} lies, closed ${get('metadata-wrong-size').closedByLodestone}× |`,
      `| metadata that does not hash | ${get('metadata-garbage').liesSent} lies, closed ${get('metadata-garbage').closedByLodestone}× |`,
      `| another torrent's metadata | ${get('metadata-other-torrent').liesSent} lies, closed ${get('metadata-other-torrent').closedByLodestone}× |`,
      `| rejects every metadata request | ${get('metadata-rejects').rejectsSent} rejects; metadata from libtorrent ${timeOf(attacked, 'metadata') - honestAt} ms after it dialled in |`,
      `| PIECE data that fails the hash | ${bad.badBlocksSent} bad blocks, ${blamed.length} hash failures named it, banned ${ban === undefined ? 'never' : `(${String(ban.reason)})`} |`,
      `| advertises pieces, never serves | ${never.blockRequests} requests unanswered, re-requested from libtorrent |`
    ]
    console.log([
      `download attacks: honest libtorrent seeder capped at ${(HONEST_RATE_CAP / 2 ** 20).toFixed(0)} MiB/s; data rate without attack ${(baseRate / 2 ** 20).toFixed(2)} MiB/s, under attack ${(rate / 2 ** 20).toFixed(2)} MiB/s; ` +
        `METADATA_INVALID warnings ${metadataWarnings.length}, hash failures ${hashFailures.length}`,
      '| attack | outcome |', '|---|---|', ...rows
    ].join('\n'))

    // Metadata liars: each lie cost its liar the connection, with a typed reason; the rejecter did
    // not hold the fetch up once an honest peer was there.
    expect(metadataWarnings.length).toBeGreaterThanOrEqual(3)
    expect(timeOf(attacked, 'metadata') - honestAt).toBeLessThan(5_000)
    // Bad data: at least hashFailuresBeforeBan failures named the liar, then its host was banned and never dialled again.
    expect(blamed.length).toBeGreaterThanOrEqual(2)
    expect(ban, 'the bad-data host was banned').toBeDefined()
    expect(bad.acceptTimes.filter((t) => t > banAt + 200)).toEqual([])
    expect(hashFailures.every((e) => (e.peers as string[]).every((host) => host === badHost)), 'only the liar was blamed').toBe(true)
    // Never serves: it was asked, answered nothing, and the download completed anyway.
    expect(never.blockRequests).toBeGreaterThan(0)
    // The honest peer delivered at >= 80 % of its rate without the attack.
    expect(rate).toBeGreaterThanOrEqual(0.8 * baseRate)
  })
})
