// The RPC's guards over real HTTP on 127.0.0.1: the 409 session-id handshake, Host allow-list,
// Origin check, basic auth, bounded bodies, paths confined to the storage roots, and a flood of
// malformed bodies answered without a crash.
import { mkdir, symlink } from 'node:fs/promises'
import { join } from 'node:path'
import { gunzipSync } from 'node:zlib'
import { afterEach, describe, expect, it } from 'vitest'
import { httpRequest, RpcClient, smallTorrent, startTestDaemon, type TestDaemon } from './helpers.js'

let running: TestDaemon | null = null
afterEach(async () => {
  await running?.close()
  running = null
})

async function sessionIdOf (port: number): Promise<string> {
  const answer = await httpRequest(port, { body: '{"method":"session-get"}' })
  return String(answer.headers['x-transmission-session-id'])
}

describe('RPC handshake and guards', () => {
  it('answers 409 with a 48-character id without one or with a stale one, then serves the call', async () => {
    running = await startTestDaemon()
    const port = running.daemon.rpcPort
    const first = await httpRequest(port, { body: '{"method":"session-get"}', headers: { 'Content-Type': 'application/x-www-form-urlencoded' } })
    expect(first.status).toBe(409)
    const id = String(first.headers['x-transmission-session-id'])
    expect(id).toMatch(/^[A-Za-z0-9]{48}$/)
    expect(first.body).toContain(id)
    const stale = await httpRequest(port, { body: '{"method":"session-get"}', headers: { 'X-Transmission-Session-Id': 'A'.repeat(48) } })
    expect(stale.status).toBe(409)
    const ok = await httpRequest(port, { path: '/transmission/rpc/', body: '{"method":"session-get","tag":7}', headers: { 'X-Transmission-Session-Id': id } })
    expect(ok.status).toBe(200)
    const json = JSON.parse(ok.body)
    expect(json).toMatchObject({ result: 'success', tag: 7, arguments: { 'rpc-version': 17, 'session-id': id } })
    // gzip when asked (session-get is over 1 KiB), as Transmission answers.
    const zipped = await httpRequest(port, { body: '{"method":"session-get"}', headers: { 'X-Transmission-Session-Id': id, 'Accept-Encoding': 'deflate, gzip, br, zstd' }, raw: true })
    expect(zipped.headers['content-encoding']).toBe('gzip')
    expect(JSON.parse(gunzipSync(zipped.raw!).toString('utf8'))).toMatchObject({ result: 'success', arguments: { 'rpc-version': 17 } })
    // A reload renews the id: the old one is stale now.
    running.daemon.reload(running.daemon.settings)
    expect((await httpRequest(port, { body: '{"method":"session-get"}', headers: { 'X-Transmission-Session-Id': id } })).status).toBe(409)
  })

  it('refuses a foreign Host name (403) and a missing Host, accepts IP literals, localhost and listed names', async () => {
    running = await startTestDaemon({ rpcHostAllowList: ['nas.example'] })
    const port = running.daemon.rpcPort
    const id = await sessionIdOf(port)
    const withHost = async (host: string): Promise<number> => (await httpRequest(port, { body: '{"method":"session-get"}', headers: { Host: host, 'X-Transmission-Session-Id': id } })).status
    expect(await withHost('evil.example')).toBe(403)
    expect(await withHost('evil.example:9091')).toBe(403)
    expect(await withHost('127.0.0.1:9091')).toBe(200)
    expect(await withHost('[::1]:9091')).toBe(200)
    expect(await withHost('localhost')).toBe(200)
    expect(await withHost('localhost.:9091')).toBe(200)
    expect(await withHost('NAS.example:9091')).toBe(200)
  })

  it('refuses a page of another origin, allows its own and listed origins', async () => {
    running = await startTestDaemon({ rpcOriginAllowList: ['http://ui.example:8080'] })
    const port = running.daemon.rpcPort
    const id = await sessionIdOf(port)
    const withOrigin = async (origin: string): Promise<number> => (await httpRequest(port, { body: '{"method":"session-get"}', headers: { Origin: origin, Host: `127.0.0.1:${port}`, 'X-Transmission-Session-Id': id } })).status
    expect(await withOrigin('http://evil.example')).toBe(403)
    expect(await withOrigin('null')).toBe(403)
    expect(await withOrigin(`http://127.0.0.1:${port}`)).toBe(200)
    expect(await withOrigin('http://ui.example:8080')).toBe(200)
  })

  it('enforces basic auth when credentials are set', async () => {
    running = await startTestDaemon({ rpcUsername: 'alice', rpcPassword: 's3cret' })
    const port = running.daemon.rpcPort
    const none = await httpRequest(port, { body: '{"method":"session-get"}' })
    expect(none.status).toBe(401)
    expect(none.headers['www-authenticate']).toBe('Basic realm="Transmission"')
    const basic = (u: string, p: string): string => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`
    expect((await httpRequest(port, { body: '{}', headers: { Authorization: basic('alice', 'wrong') } })).status).toBe(401)
    expect((await httpRequest(port, { body: '{}', headers: { Authorization: basic('bob', 's3cret') } })).status).toBe(401)
    const rpc = new RpcClient(port, { Authorization: basic('alice', 's3cret') })
    expect((await rpc.call('session-get')).result).toBe('success')
  })

  it('answers an oversized body 413 and non-POST 405', async () => {
    running = await startTestDaemon({ maxRequestBodyBytes: 4096 })
    const port = running.daemon.rpcPort
    const id = await sessionIdOf(port)
    const big = await httpRequest(port, { body: `{"method":"session-get","arguments":{"x":"${'a'.repeat(10_000)}"}}`, headers: { 'X-Transmission-Session-Id': id } })
    expect(big.status).toBe(413)
    expect((await httpRequest(port, { method: 'GET', headers: { 'X-Transmission-Session-Id': id } })).status).toBe(405)
    expect((await httpRequest(port, { path: '/elsewhere' })).status).toBe(404)
  })

  it('answers 1 000 malformed bodies with a result string and keeps serving', async () => {
    running = await startTestDaemon()
    const port = running.daemon.rpcPort
    const id = await sessionIdOf(port)
    const bodies = [
      '', '{', 'null', '[]', '"x"', '42', '{"method":1}', '{"method":"nope"}', '{"method":"torrent-get"}',
      '{"method":"torrent-get","arguments":{"fields":"id"}}', '{"method":"torrent-get","arguments":{"fields":["id"],"ids":{}}}',
      '{"method":"torrent-add","arguments":{}}', '{"method":"torrent-add","arguments":{"metainfo":"!!!"}}',
      '{"method":"torrent-add","arguments":{"metainfo":"ZGU="}}', '{"method":"torrent-add","arguments":{"filename":"magnet:?xt=urn:btih:zz"}}',
      '{"method":"session-set","arguments":{"speed-limit-down":"fast"}}', '{"method":"torrent-set","arguments":{"ids":[1],"downloadLimit":-5}}',
      '{"method":"__proto__"}', '{"method":"toString"}', '{"method":"session-get","arguments":[]}', '\u0000\u0001\u0002',
      '{"method":"torrent-remove","arguments":{"ids":"all the things"}}', '{"method":"free-space","arguments":{"path":"../../etc"}}'
    ]
    const seen = new Set<string>()
    for (let i = 0; i < 1000; i++) {
      let body = bodies[i % bodies.length]!
      if (i >= bodies.length) body = i % 2 === 0 ? body.slice(0, i % (body.length + 1)) : `${body}${String.fromCharCode(i % 256)}`
      const answer = await httpRequest(port, { body, headers: { 'X-Transmission-Session-Id': id } })
      expect(answer.status).toBe(200)
      const json = JSON.parse(answer.body)
      expect(typeof json.result).toBe('string')
      seen.add(json.result)
    }
    expect(seen.has('method name not recognized: nope')).toBe(true)
    expect(seen.has('invalid JSON request body')).toBe(true)
    const rpc = new RpcClient(port)
    expect((await rpc.call('session-stats')).result).toBe('success')
  })
})

describe('paths confined to the storage roots', () => {
  it('refuses a download-dir outside the roots, through ../ or through a symlink, and accepts one inside', async () => {
    running = await startTestDaemon()
    const { daemon, downloadDir, dir } = running
    const rpc = new RpcClient(daemon.rpcPort)
    const metainfo = Buffer.from(smallTorrent('a.bin')).toString('base64')
    const outside = await rpc.call('torrent-add', { metainfo, 'download-dir': '/etc' })
    expect(outside.result).toMatch(/outside the allowed storage roots/)
    const dotdot = await rpc.call('torrent-add', { metainfo, 'download-dir': `${downloadDir}/../escape` })
    expect(dotdot.result).toMatch(/outside the allowed storage roots/)
    await mkdir(join(dir, 'elsewhere'))
    await symlink(join(dir, 'elsewhere'), join(downloadDir, 'link'))
    const viaLink = await rpc.call('torrent-add', { metainfo, 'download-dir': join(downloadDir, 'link', 'sub') })
    expect(viaLink.result).toMatch(/outside the allowed storage roots/)
    const relative = await rpc.call('torrent-add', { metainfo, 'download-dir': 'downloads' })
    expect(relative.result).toMatch(/absolute/)
    expect((await rpc.call('torrent-get', { fields: ['id'] })).arguments.torrents).toEqual([])
    const inside = await rpc.call('torrent-add', { metainfo, paused: true, 'download-dir': join(downloadDir, 'movies') })
    expect(inside.result).toBe('success')
    const got = await rpc.call('torrent-get', { ids: [inside.arguments['torrent-added'].id], fields: ['downloadDir', 'status'] })
    expect(got.arguments.torrents).toEqual([{ downloadDir: join(downloadDir, 'movies'), status: 0 }])
    expect((await rpc.call('session-set', { 'download-dir': '/tmp' })).result).toMatch(/outside/)
    expect((await rpc.call('torrent-set-location', { ids: [1], location: '/', move: true })).result).toMatch(/outside/)
    expect((await rpc.call('torrent-add', { filename: '/etc/passwd' })).result).toMatch(/outside/)
  })
})
