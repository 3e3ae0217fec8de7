// /metrics: Prometheus text behind the API token, torrents counted by state.
import { readFile } from 'node:fs/promises'
import { afterEach, describe, expect, it } from 'vitest'
import { httpRequest, RpcClient, smallTorrent, startTestDaemon, type TestDaemon } from './helpers.js'

let running: TestDaemon | null = null
afterEach(async () => {
  await running?.close()
  running = null
})

describe('/metrics', () => {
  it('needs the API token and reports torrents by state, rates and bytes', async () => {
    running = await startTestDaemon()
    const { daemon } = running
    const port = daemon.rpcPort
    const token = (await readFile(daemon.apiTokenFile, 'utf8')).trim()
    expect(token).toBe(daemon.apiToken)
    expect((await httpRequest(port, { method: 'GET', path: '/metrics' })).status).toBe(401)
    expect((await httpRequest(port, { method: 'GET', path: '/metrics', headers: { Authorization: 'Bearer nope' } })).status).toBe(401)
    const rpc = new RpcClient(port)
    await rpc.call('torrent-add', { metainfo: Buffer.from(smallTorrent('m1.bin')).toString('base64'), paused: true })
    await rpc.call('torrent-add', { metainfo: Buffer.from(smallTorrent('m2.bin')).toString('base64'), paused: true })
    const scrape = await httpRequest(port, { method: 'GET', path: '/metrics', headers: { Authorization: `Bearer ${token}` } })
    expect(scrape.status).toBe(200)
    expect(scrape.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/)
    expect(scrape.body).toMatch(/^lodestone_torrents\{state="stopped"\} 2$/m)
    expect(scrape.body).toMatch(/^lodestone_torrents\{state="seeding"\} 0$/m)
    expect(scrape.body).toMatch(/^lodestone_download_rate_bytes_per_second 0$/m)
    expect(scrape.body).toMatch(/^lodestone_downloaded_bytes_total 0$/m)
    expect(scrape.body).toMatch(/^# TYPE lodestone_hash_failures_total counter$/m)
    expect(scrape.body).toMatch(/^lodestone_process_cpu_seconds_total /m)
    const viaQuery = await httpRequest(port, { method: 'GET', path: `/metrics?token=${token}` })
    expect(viaQuery.status).toBe(200)
  })
})
