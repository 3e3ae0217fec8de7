// RPC method semantics against an in-process daemon: file selection and priorities, id forms,
// recently-active with removed ids, table format, queue moves, session limits reaching the engine,
// integer fields, and refusals answered as result strings.
import { afterEach, describe, expect, it } from 'vitest'
import { multiTorrent, RpcClient, smallTorrent, startTestDaemon, type TestDaemon } from './helpers.js'

let running: TestDaemon | null = null
afterEach(async () => {
  await running?.close()
  running = null
})

const LIST_FIELDS = ['error', 'errorString', 'eta', 'id', 'isFinished', 'leftUntilDone', 'name', 'peersGettingFromUs', 'peersSendingToUs', 'rateDownload', 'rateUpload', 'sizeWhenDone', 'status', 'uploadRatio']

describe('RPC methods', () => {
  it('selects files, sets priorities, and reports them as Transmission does', async () => {
    running = await startTestDaemon()
    const rpc = new RpcClient(running.daemon.rpcPort)
    const metainfo = Buffer.from(multiTorrent('tree', [['a.bin', 40_000], ['b.bin', 40_000], ['c.bin', 40_000]])).toString('base64')
    const added = await rpc.call('torrent-add', { metainfo, paused: true, 'files-unwanted': [1], 'priority-high': [2], 'peer-limit': 7, labels: ['x'] }, 8)
    expect(added).toMatchObject({ result: 'success', tag: 8, arguments: { 'torrent-added': { id: 1, name: 'tree' } } })
    const hash = added.arguments['torrent-added'].hashString as string
    const got = await rpc.call('torrent-get', { ids: hash, fields: ['wanted', 'priorities', 'peer-limit', 'labels', 'sizeWhenDone', 'totalSize', 'fileStats'] })
    expect(got.arguments.torrents[0]).toMatchObject({ wanted: [1, 0, 1], priorities: [0, 0, 1], 'peer-limit': 7, labels: ['x'], totalSize: 120_000 })
    expect(got.arguments.torrents[0].sizeWhenDone).toBeLessThan(120_000)
    expect(got.tag).toBeUndefined()
    expect((await rpc.call('torrent-set', { ids: 1, 'files-wanted': [1], 'priority-low': [0] })).result).toBe('success')
    const after = await rpc.call('torrent-get', { ids: [1], fields: ['wanted', 'priorities', 'sizeWhenDone'] })
    expect(after.arguments.torrents[0]).toEqual({ wanted: [1, 1, 1], priorities: [-1, 0, 1], sizeWhenDone: 120_000 })
    expect((await rpc.call('torrent-set', { ids: [1], 'files-wanted': [9] })).result).toMatch(/out of range/)
    // Renames (no data on disk yet: the paths change); answers as Transmission's, refusals as reasons.
    const renamed = await rpc.call('torrent-rename-path', { ids: [1], path: 'tree/b.bin', name: 'b2.bin' })
    expect(renamed).toMatchObject({ result: 'success', arguments: { path: 'tree/b.bin', name: 'b2.bin', id: 1 } })
    expect((await rpc.call('torrent-rename-path', { ids: [1], path: 'tree', name: 'forest' })).result).toBe('success')
    const names = await rpc.call('torrent-get', { ids: [1], fields: ['files'] })
    expect(names.arguments.torrents[0].files.map((f: { name: string }) => f.name)).toEqual(['forest/a.bin', 'forest/b2.bin', 'forest/c.bin'])
    for (const [path, name, why] of [['forest/a.bin', 'c.bin', /collides/], ['forest/a.bin', '../a', /not a valid file name/], ['forest/a.bin', 'x\u0000', /not a valid file name/], ['forest/zzz', 'y', /no file or folder/]] as const) {
      expect((await rpc.call('torrent-rename-path', { ids: [1], path, name })).result).toMatch(why)
    }
    const dup = await rpc.call('torrent-add', { metainfo })
    expect(dup.arguments['torrent-duplicate']).toMatchObject({ id: 1, hashString: hash })
  })

  it('reads ids in every form, answers tables, moves the queue and reports removals as recently active', async () => {
    running = await startTestDaemon()
    const rpc = new RpcClient(running.daemon.rpcPort)
    for (const name of ['q1', 'q2', 'q3']) await rpc.call('torrent-add', { metainfo: Buffer.from(smallTorrent(name)).toString('base64'), paused: true })
    const list = await rpc.call('torrent-get', { fields: LIST_FIELDS })
    expect(list.arguments.torrents.map((t: { id: number }) => t.id)).toEqual([1, 2, 3])
    for (const t of list.arguments.torrents) {
      for (const f of LIST_FIELDS.filter((x) => !['errorString', 'name', 'isFinished', 'uploadRatio'].includes(x))) expect(Number.isInteger(t[f]), f).toBe(true)
    }
    const table = await rpc.call('torrent-get', { ids: [3, '2'], fields: ['id', 'name'], format: 'table' })
    expect(table.arguments.torrents).toEqual([['id', 'name'], [3, 'q3'], [2, 'q2']])
    expect((await rpc.call('torrent-get', { ids: [{}], fields: ['id'] })).result).toMatch(/invalid or corrupt torrent id/)
    await rpc.call('queue-move-top', { ids: [3] })
    await rpc.call('queue-move-down', { ids: [1] })
    const order = await rpc.call('torrent-get', { fields: ['id', 'queuePosition'] })
    expect(order.arguments.torrents).toEqual([{ id: 1, queuePosition: 2 }, { id: 2, queuePosition: 1 }, { id: 3, queuePosition: 0 }])
    await rpc.call('torrent-remove', { ids: [2] })
    const recent = await rpc.call('torrent-get', { ids: 'recently-active', fields: ['id'] })
    expect(recent.arguments.removed).toEqual([2])
    expect(recent.arguments.torrents.map((t: { id: number }) => t.id)).toEqual([1, 3])
  })

  it('turns session limits into engine settings and back', async () => {
    running = await startTestDaemon()
    const { daemon } = running
    const rpc = new RpcClient(daemon.rpcPort)
    expect((await rpc.call('session-set', { 'speed-limit-down': 250, 'speed-limit-down-enabled': true, 'speed-limit-up': 40, 'peer-limit-global': 99, encryption: 'required' })).result).toBe('success')
    expect(daemon.engine.settings.rateLimit).toEqual({ downloadRateBytesPerSec: 250_000, uploadRateBytesPerSec: 0 })
    expect(daemon.engine.settings.connection.maxConnections).toBe(99)
    expect(daemon.engine.settings.encryption.mode).toBe('require')
    await rpc.call('session-set', { 'alt-speed-enabled': true, 'alt-speed-down': 10, 'alt-speed-up': 5 })
    expect(daemon.engine.settings.rateLimit).toEqual({ downloadRateBytesPerSec: 10_000, uploadRateBytesPerSec: 5_000 })
    const got = await rpc.call('session-get', { fields: ['speed-limit-down', 'alt-speed-enabled', 'peer-limit-global', 'encryption', 'nope'] })
    expect(got.arguments).toEqual({ 'speed-limit-down': 250, 'alt-speed-enabled': true, 'peer-limit-global': 99, encryption: 'required' })
    expect((await rpc.call('session-set', { encryption: 'maybe' })).result).toMatch(/encryption/)
    expect((await rpc.call('session-set', { 'speed-limit-down': 1.5 })).result).toMatch(/speed-limit-down/)
    const stats = await rpc.call('session-stats')
    expect(stats.arguments).toMatchObject({ torrentCount: 0, 'cumulative-stats': { sessionCount: 1 }, 'current-stats': { sessionCount: 1 } })
    expect((await rpc.call('port-test')).arguments['port-is-open']).toBe(true)
    const free = await rpc.call('free-space', { path: running.downloadDir })
    expect(free.arguments['size-bytes']).toBeGreaterThan(0)
  })
})
