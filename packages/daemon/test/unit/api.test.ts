// Our JSON API and its WebSocket event stream, through the typed client, over real HTTP on 127.0.0.1.
import { afterEach, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { ApiClientError, LodestoneApiClient, type ApiEvent } from '../../src/index.js'
import { httpRequest, smallTorrent, startTestDaemon, type TestDaemon } from './helpers.js'

let running: TestDaemon | null = null
afterEach(async () => {
  await running?.close()
  running = null
})

describe('our JSON API', () => {
  it('adds, lists, details, sets priorities, acts, filters, logs and removes; streams events', async () => {
    running = await startTestDaemon()
    const { daemon, downloadDir } = running
    const baseUrl = `http://127.0.0.1:${daemon.rpcPort}`
    const api = new LodestoneApiClient({ baseUrl, token: daemon.apiToken, WebSocket: WebSocket as never })

    const events: ApiEvent[] = []
    const stop = api.events((e) => { events.push(e) })
    await expect.poll(() => events.some((e) => e.type === 'hello')).toBe(true)

    const session = await api.session()
    expect(session.storageRoots).toEqual([downloadDir])
    expect(session.settings.discovery.dht).toBe(false)

    const metainfo = smallTorrent('api.bin', 100_000)
    const { torrent, duplicate } = await api.addTorrent({ metainfo }, { paused: true })
    expect(duplicate).toBe(false)
    expect(torrent).toMatchObject({ id: 1, name: 'api.bin', state: 'stopped', downloadDir })
    expect((await api.addTorrent({ metainfo })).duplicate).toBe(true)
    await expect.poll(() => events.some((e) => e.type === 'torrent-added' && e.infoHash === torrent.infoHash && e.id === 1)).toBe(true)

    const list = await api.torrents()
    expect(list.map((t) => t.infoHash)).toEqual([torrent.infoHash])
    const detail = await api.torrent(torrent.infoHash)
    expect(detail.files).toEqual([{ index: 0, path: 'api.bin', lengthBytes: 100_000, priority: 4, verifiedBytes: 0, progress: 0, padding: false }])
    expect(detail.pieceCount).toBe(7)
    await api.setFilePriority(torrent.infoHash, 0, 7)
    expect((await api.torrent(torrent.infoHash)).files[0]!.priority).toBe(7)

    await api.action(torrent.infoHash, 'start')
    await expect.poll(async () => (await api.torrent(torrent.infoHash)).state, { timeout: 10_000 }).toBe('downloading')
    await expect.poll(() => events.some((e) => e.type === 'alert' && e.alert.type === 'state-changed' && e.alert.torrentId === torrent.infoHash), { timeout: 10_000 }).toBe(true)
    await expect.poll(() => events.some((e) => e.type === 'stats' && e.torrents.some((t) => t.infoHash === torrent.infoHash && t.id === 1)), { timeout: 5_000 }).toBe(true)
    await api.action(torrent.infoHash, 'stop')
    expect((await api.torrent(torrent.infoHash)).state).toBe('stopped')

    const filter = await api.setIpFilter('10.0.0.0 - 10.255.255.255 , 000 , private\n')
    expect(filter).toMatchObject({ enabled: true, ranges: 1 })
    expect((await api.setIpFilter('')).enabled).toBe(false)
    const settings = await api.updateSettings({ rateLimit: { downloadRateBytesPerSec: 123_000 } })
    expect(settings.settings.rateLimit.downloadRateBytesPerSec).toBe(123_000)
    await expect(api.updateSettings({ rateLimit: { downloadRateBytesPerSeconds: 1 } } as never)).rejects.toMatchObject({ status: 400, code: 'SETTINGS_INVALID' })
    expect(Array.isArray(await api.alerts())).toBe(true)
    expect(Array.isArray(await api.log('warn'))).toBe(true)

    await expect(api.move(torrent.infoHash, '/etc')).rejects.toMatchObject({ status: 400, message: expect.stringMatching(/outside/) })
    await expect(api.torrent('0'.repeat(40))).rejects.toBeInstanceOf(ApiClientError)
    await api.remove(torrent.infoHash, true)
    expect(await api.torrents()).toEqual([])
    await expect.poll(() => events.some((e) => e.type === 'torrent-removed' && e.infoHash === torrent.infoHash)).toBe(true)
    stop()
  })

  it('refuses requests without the token, changes with the token only in the URL, and foreign hosts', async () => {
    running = await startTestDaemon()
    const port = running.daemon.rpcPort
    const token = running.daemon.apiToken
    expect((await httpRequest(port, { method: 'GET', path: '/api/v1/torrents' })).status).toBe(401)
    expect((await httpRequest(port, { method: 'GET', path: `/api/v1/torrents?token=${token}` })).status).toBe(200)
    const viaQuery = await httpRequest(port, { method: 'POST', path: `/api/v1/torrents?token=${token}`, body: '{"magnet":"magnet:?xt=urn:btih:' + 'a'.repeat(40) + '"}' })
    expect(viaQuery.status).toBe(401)
    expect(JSON.parse(viaQuery.body).error.code).toBe('TOKEN_IN_HEADER')
    expect((await httpRequest(port, { method: 'GET', path: '/api/v1/torrents', headers: { Authorization: `Bearer ${token}`, Host: 'evil.example' } })).status).toBe(403)
    const bad = await httpRequest(port, { method: 'POST', path: '/api/v1/torrents', headers: { Authorization: `Bearer ${token}` }, body: '{nope' })
    expect(bad.status).toBe(400)
    expect((await httpRequest(port, { method: 'PUT', path: '/api/v1/torrents', headers: { Authorization: `Bearer ${token}` } })).status).toBe(405)
    const ws = new WebSocket(`ws://127.0.0.1:${port}/api/v1/events`)
    const refused = await new Promise<string>((resolve) => { ws.on('unexpected-response', (_req, res) => { resolve(String(res.statusCode)) }); ws.on('error', () => { resolve('error') }) })
    expect(refused).toBe('401')
  })
})
