// The bridge's security boundary (issue 17): token, Origin, Host, path confinement (incl.
// symlinks) and malformed frames. After every hostile request the daemon must still serve a
// well-behaved client.
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { Op, authFrame, encodeFrame, fileWriteFrame, readFileWriteResult, tcpConnectFrame, BRIDGE_VERSION } from '@lodestone/engine/adapters/daemon'
import { startIoDaemon, type IoDaemon } from '../src/index.js'

const ORIGIN = 'http://127.0.0.1:8123'
let base: string
let root: string
let outside: string
let daemon: IoDaemon
let key: string

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'lodestone-io-sec-'))
  root = join(base, 'root')
  outside = join(base, 'outside')
  await mkdir(root)
  await mkdir(outside)
  await writeFile(join(outside, 'secret.txt'), 'top secret')
  await symlink(outside, join(root, 'link-out'))                     // directory symlink leaving the root
  await symlink(join(outside, 'secret.txt'), join(root, 'file-out')) // file symlink leaving the root
  await symlink(join(outside, 'nothing-yet'), join(root, 'dangling')) // dangling, would create outside
  await mkdir(join(root, 'inside'))
  await symlink(join(root, 'inside'), join(root, 'link-in'))         // a symlink that stays inside is fine
  daemon = await startIoDaemon({ roots: [{ label: 'dl', dir: root }], allowOrigins: [ORIGIN], authTimeoutMs: 300 })
  key = daemon.roots[0]!.key
})

afterAll(async () => {
  await daemon.close()
  await rm(base, { recursive: true, force: true })
})

interface Reply { status: number, headers: Record<string, string | string[] | undefined>, body: string }

async function http (method: string, path: string, headers: Record<string, string> = {}, body?: Uint8Array): Promise<Reply> {
  return new Promise<Reply>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: daemon.port, method, path, headers: { Authorization: `Bearer ${daemon.token}`, ...headers } }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }) })
    })
    req.on('error', reject)
    req.end(body)
  })
}

function fsPath (op: string, params: Record<string, string>): string {
  return `/fs/${op}/${key}?${new URLSearchParams(params).toString()}`
}

/** A raw WebSocket to /io; resolves when open (or with the HTTP status when refused). */
async function openWs (headers: Record<string, string> = {}): Promise<{ ws?: WebSocket, refusedStatus?: number }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${daemon.port}/io`, { headers })
    ws.on('open', () => { resolve({ ws }) })
    ws.on('unexpected-response', (_req, res) => { resolve({ refusedStatus: res.statusCode ?? 0 }) })
    ws.on('error', () => { resolve({ refusedStatus: -1 }) })
  })
}

/** Resolves with the close code once the server closes `ws`, collecting frames meanwhile. */
async function closeCodeOf (ws: WebSocket, frames: Buffer[] = []): Promise<number> {
  return new Promise((resolve) => {
    ws.on('message', (d: Buffer) => frames.push(d))
    ws.on('close', (code) => { resolve(code) })
  })
}

/** A fresh, authenticated session completes a TCP connect round trip: the daemon is alive. */
async function daemonStillServes (): Promise<void> {
  const { ws } = await openWs()
  expect(ws).toBeDefined()
  const answers: Buffer[] = []
  const got = new Promise<void>((resolve) => {
    ws!.on('message', (d: Buffer) => { answers.push(d); if (answers.length === 2) resolve() })
  })
  ws!.send(authFrame(daemon.token))
  // Connect to a closed port: a TCP_CONNECTED with a failure status comes back.
  ws!.send(tcpConnectFrame(7, 1, '127.0.0.1', 1))
  await got
  expect(answers[0]![1]).toBe(Op.AUTH_RESULT)
  expect(answers[0]![8]).toBe(0)
  expect(answers[1]![1]).toBe(Op.TCP_CONNECTED)
  ws!.close()
}

describe('io-daemon security: tokens', () => {
  it('HTTP without or with a wrong token is 401, with the right one 200', async () => {
    expect((await http('GET', '/roots', { Authorization: '' })).status).toBe(401)
    expect((await http('GET', '/roots', { Authorization: 'Bearer wrong' })).status).toBe(401)
    expect((await http('GET', '/roots', { Authorization: `Bearer ${daemon.token}x` })).status).toBe(401)
    const ok = await http('GET', '/roots')
    expect(ok.status).toBe(200)
    expect(JSON.parse(ok.body)).toEqual([{ key, label: 'dl' }])
    expect(ok.body).not.toContain(root) // the browser never learns real paths
  })

  it('a WebSocket with a wrong token is refused and closed', async () => {
    const { ws } = await openWs()
    const frames: Buffer[] = []
    const closed = closeCodeOf(ws!, frames)
    ws!.send(authFrame('not-the-token'))
    expect(await closed).toBe(4003)
    expect(frames[0]![1]).toBe(Op.AUTH_RESULT)
    expect(frames[0]![8]).not.toBe(0)
    expect(daemon.sessions).toBe(0)
  })

  it('a WebSocket that never authenticates is closed; socket frames before AUTH are refused', async () => {
    const { ws } = await openWs()
    expect(await closeCodeOf(ws!)).toBe(4001)
    const second = await openWs()
    const closed = closeCodeOf(second.ws!)
    second.ws!.send(tcpConnectFrame(1, 1, '127.0.0.1', 80))
    expect(await closed).toBe(1002)
    await daemonStillServes()
  })
})

describe('io-daemon security: origins and hosts', () => {
  it('refuses a disallowed Origin on HTTP (also its preflight) and on the WebSocket', async () => {
    expect((await http('GET', '/roots', { Origin: 'http://evil.example' })).status).toBe(403)
    expect((await http('GET', '/roots', { Origin: 'http://127.0.0.1:8124' })).status).toBe(403) // another port is another origin
    expect((await http('GET', '/roots', { Origin: 'http://localhost:8123' })).status).toBe(403) // and another host name
    expect((await http('OPTIONS', '/fs/write/x', { Origin: 'http://evil.example', Authorization: '' })).status).toBe(403)
    expect((await openWs({ Origin: 'http://evil.example' })).refusedStatus).toBe(403)
  })

  it('answers an allowed Origin with CORS headers for that origin only, and caches preflights', async () => {
    const pre = await http('OPTIONS', fsPath('write', { path: 'x' }), { Origin: ORIGIN, Authorization: '', 'Access-Control-Request-Method': 'POST' })
    expect(pre.status).toBe(204)
    expect(pre.headers['access-control-allow-origin']).toBe(ORIGIN)
    expect(String(pre.headers['access-control-allow-headers'])).toContain('Authorization')
    expect(Number(pre.headers['access-control-max-age'])).toBeGreaterThan(0)
    const ok = await http('GET', '/roots', { Origin: ORIGIN })
    expect(ok.status).toBe(200)
    expect(ok.headers['access-control-allow-origin']).toBe(ORIGIN)
    const { ws } = await openWs({ Origin: ORIGIN })
    expect(ws).toBeDefined()
    ws!.close()
  })

  it('refuses a foreign Host header (DNS rebinding)', async () => {
    expect((await http('GET', '/roots', { Host: `evil.example:${daemon.port}` })).status).toBe(403)
    expect((await openWs({ Host: `evil.example:${daemon.port}` })).refusedStatus).toBe(403)
  })
})

describe('io-daemon security: paths stay under their root', () => {
  const escapes = [
    '../outside/secret.txt', 'a/../../outside/secret.txt', '..', '/etc/passwd', '/', 'a//b', './x',
    'nul\0byte', 'back\\slash', 'link-out/secret.txt', 'link-out', 'file-out', 'dangling', 'link-out/new.txt'
  ]

  it('refuses every escaping path for every operation, with 403 or 400, and touches nothing outside', async () => {
    for (const path of escapes) {
      for (const [method, op, extra] of [
        ['GET', 'read', { offset: '0', length: '10' }], ['POST', 'write', { offset: '0' }], ['GET', 'stat', {}], ['GET', 'list', {}],
        ['POST', 'delete', {}], ['POST', 'mkdir', { recursive: '1' }], ['POST', 'truncate', { length: '0' }], ['POST', 'open', { mode: 'w' }]
      ] as const) {
        const res = await http(method, fsPath(op, { path, ...extra }), {}, method === 'POST' ? Buffer.from('pwned') : undefined)
        if (path === '/') continue // the root itself: '/' is refused as absolute
        expect([400, 403], `${op} ${JSON.stringify(path)} → ${res.status} ${res.body}`).toContain(res.status)
        expect(res.body).not.toContain('top secret')
      }
    }
    expect((await http('POST', fsPath('rename', { path: 'inside', to: '../moved' }))).status).toBe(403)
    expect((await http('POST', fsPath('rename', { path: 'inside', to: 'link-out/moved' }))).status).toBe(403)
    expect((await readdir(outside)).sort()).toEqual(['secret.txt'])
    expect((await http('GET', fsPath('stat', { path: 'inside' }))).status).toBe(200)
  })

  it('percent-encoded traversal is still traversal', async () => {
    const res = await http('GET', `/fs/read/${key}?path=%2e%2e%2foutside%2fsecret.txt&offset=0&length=10`)
    expect(res.status).toBe(403)
  })

  it('a symlink that stays inside the root works; an unknown root key is 404', async () => {
    expect((await http('POST', fsPath('write', { path: 'link-in/ok.txt', offset: '0' }), {}, Buffer.from('fine'))).status).toBe(200)
    expect((await http('GET', fsPath('read', { path: 'inside/ok.txt', offset: '0', length: '4' }))).body).toBe('fine')
    expect((await http('GET', `/fs/stat/${'0'.repeat(32)}?path=x`)).status).toBe(404)
  })

  it('refuses oversized bodies and malformed numbers', async () => {
    expect((await http('GET', fsPath('read', { path: 'inside/ok.txt', offset: '-1', length: '4' }))).status).toBe(400)
    expect((await http('GET', fsPath('read', { path: 'inside/ok.txt', offset: '0', length: String(64 << 20) }))).status).toBe(413)
    expect((await http('POST', fsPath('write', { path: 'inside/big', offset: '0' }), { 'Content-Length': String(64 << 20) })).status).toBe(413)
    expect((await http('POST', fsPath('write', { path: 'inside/h', offset: '0' }), { 'X-Expected-SHA1': '0'.repeat(40) }, Buffer.from('x'))).status).toBe(409)
  })
})

describe('io-daemon security: file writes over the WebSocket', () => {
  /** An authenticated session; `ask` sends a frame and resolves with the answer of its request id. */
  async function session (): Promise<{ ws: WebSocket, ask: (frame: Uint8Array, rid: number) => Promise<Buffer> }> {
    const { ws } = await openWs()
    const waiting = new Map<number, (b: Buffer) => void>()
    ws!.on('message', (d: Buffer) => { waiting.get(d.readUInt32LE(4))?.(d) })
    const authed = new Promise<void>((resolve) => { waiting.set(0, () => { resolve() }) })
    ws!.send(authFrame(daemon.token))
    await authed
    return { ws: ws!, ask: async (frame, rid) => new Promise<Buffer>((resolve) => { waiting.set(rid, resolve); ws!.send(frame) }) }
  }

  it('writes only through a handle the HTTP API opened (inside the root); an unknown handle is an error answer, not a crash', async () => {
    const opened = await http('POST', fsPath('open', { path: 'inside/ws.bin', mode: 'w' }))
    expect(opened.status).toBe(200)
    const { handle } = JSON.parse(opened.body) as { handle: number }
    const { ws, ask } = await session()
    const ok = await ask(fileWriteFrame(5, handle, 3, Buffer.from('bridged')), 5)
    expect(ok[1]).toBe(Op.FILE_WRITE_RESULT)
    expect(readFileWriteResult(ok.subarray(8))).toEqual({ written: 7 })
    expect((await http('GET', fsPath('read', { path: 'inside/ws.bin', offset: '3', length: '7' }))).body).toBe('bridged')
    // An escaping path never gets a handle, so there is nothing to write through; a guessed or
    // closed handle is refused.
    expect((await http('POST', fsPath('open', { path: '../outside/secret.txt', mode: 'r+' }))).status).toBe(403)
    for (const guess of [handle + 1000, 0, 0xffff_ffff]) {
      const bad = readFileWriteResult((await ask(fileWriteFrame(6, guess, 0, Buffer.from('pwned')), 6)).subarray(8))
      expect(bad.error?.code).toBe('HANDLE_UNKNOWN')
    }
    await http('POST', fsPath('close', { handle: String(handle) }))
    expect(readFileWriteResult((await ask(fileWriteFrame(7, handle, 0, Buffer.from('late')), 7)).subarray(8)).error?.code).toBe('HANDLE_UNKNOWN')
    expect((await readdir(outside)).sort()).toEqual(['secret.txt'])
    expect(ws.readyState).toBe(WebSocket.OPEN)
    ws.close()
  })

  it('a message in several WebSocket frames (Chromium sends 1 MiB as 9+): a FILE_WRITE is written from its frames, others are joined', async () => {
    const opened = await http('POST', fsPath('open', { path: 'inside/frames.bin', mode: 'w' }))
    const { handle } = JSON.parse(opened.body) as { handle: number }
    const { ws } = await session()
    const sendInFrames = async (frame: Uint8Array, cuts: number[], rid: number): Promise<Buffer> => {
      const answer = new Promise<Buffer>((resolve) => {
        const onAnswer = (d: Buffer): void => { if (d.readUInt32LE(4) === rid) { ws.off('message', onAnswer); resolve(d) } }
        ws.on('message', onAnswer)
      })
      const bounds = [0, ...cuts, frame.length]
      for (let i = 0; i + 1 < bounds.length; i++) ws.send(frame.subarray(bounds[i], bounds[i + 1]), { binary: true, fin: i + 2 === bounds.length })
      return answer
    }
    const data = new Uint8Array(300_000)
    for (let i = 0; i < data.length; i++) data[i] = (i * 7 + (i >> 9)) & 0xff
    // Header in the first frame: written from the frames as they are.
    const first = readFileWriteResult((await sendInFrames(fileWriteFrame(21, handle, 1000, data), [50, 131_050, 262_050], 21)).subarray(8))
    expect(first).toEqual({ written: data.length })
    // Header split over two frames: joined first, same result.
    const second = readFileWriteResult((await sendInFrames(fileWriteFrame(22, handle, 400_000, data), [10, 200_000], 22)).subarray(8))
    expect(second).toEqual({ written: data.length })
    const onDisk = await readFile(join(root, 'inside', 'frames.bin'))
    expect(Buffer.compare(onDisk.subarray(1000, 1000 + data.length), data)).toBe(0)
    expect(Buffer.compare(onDisk.subarray(400_000, 400_000 + data.length), data)).toBe(0)
    // Another opcode in two frames is joined and handled: a connect to a closed port is answered.
    const connected = await sendInFrames(tcpConnectFrame(23, 3, '127.0.0.1', 1), [5], 23)
    expect(connected[1]).toBe(Op.TCP_CONNECTED)
    expect(ws.readyState).toBe(WebSocket.OPEN)
    await http('POST', fsPath('close', { handle: String(handle) }))
    ws.close()
  })

  it('refuses FILE_WRITE before authentication', async () => {
    const { ws } = await openWs()
    const closed = closeCodeOf(ws!)
    ws!.send(fileWriteFrame(1, 1, 0, Buffer.from('x')))
    expect(await closed).toBe(1002)
    await daemonStillServes()
  })
})

describe('io-daemon security: malformed frames', () => {
  const bad: Array<[string, Uint8Array]> = [
    ['shorter than the header', new Uint8Array([BRIDGE_VERSION, Op.TCP_CONNECT, 0])],
    ['wrong version', encodeFrame(Op.TCP_CONNECT, 1, 0).map((b, i) => i === 0 ? 9 : b)],
    ['TCP_CONNECT with a 2-byte payload', encodeFrame(Op.TCP_CONNECT, 1, 2)],
    ['TCP_RECV_ACK with trailing bytes', encodeFrame(Op.TCP_RECV_ACK, 1, 12)],
    ['UDP_SEND whose address length runs past the frame', encodeFrame(Op.UDP_SEND, 1, 10, (v) => { v.setUint32(0, 1, true); v.setUint16(4, 80, true); v.setUint16(6, 60_000, true) })],
    ['TCP_CONNECT with a host that is not UTF-8', encodeFrame(Op.TCP_CONNECT, 1, 8, (v, b) => { v.setUint32(0, 1, true); v.setUint16(4, 80, true); b[6] = 0xff; b[7] = 0xfe })],
    ['TCP_CONNECT with a 1000-byte host', encodeFrame(Op.TCP_CONNECT, 1, 1006, (v, b) => { v.setUint32(0, 1, true); v.setUint16(4, 80, true); b.fill(0x61, 6) })],
    ['a client id in the server range', tcpConnectFrame(1, 0x1_0000, '127.0.0.1', 1)],
    ['FILE_WRITE shorter than its header', encodeFrame(Op.FILE_WRITE, 1, 10)],
    ['FILE_WRITE at an offset past 2^53', encodeFrame(Op.FILE_WRITE, 1, 16, (v) => { v.setUint32(0, 1, true); v.setUint32(8, 0x20_0000, true) })],
    ['an unknown opcode', encodeFrame(0x55, 1, 4)]
  ]

  for (const [what, frame] of bad) {
    it(`closes the session on ${what}, and keeps serving others`, async () => {
      const { ws } = await openWs()
      const frames: Buffer[] = []
      const closed = closeCodeOf(ws!, frames)
      ws!.send(authFrame(daemon.token))
      ws!.send(frame)
      expect(await closed).toBe(1002)
      expect(frames.map((f) => f[1])).toContain(Op.ERROR)
      await daemonStillServes()
    })
  }

  it('closes on a text frame and on a frame over the size limit', async () => {
    const a = await openWs()
    const closedA = closeCodeOf(a.ws!)
    a.ws!.send(authFrame(daemon.token))
    a.ws!.send('hello')
    expect(await closedA).toBe(1003)
    const b = await openWs()
    const closedB = closeCodeOf(b.ws!)
    b.ws!.send(authFrame(daemon.token))
    b.ws!.send(new Uint8Array(2 << 20))
    expect(await closedB).toBe(1009)
    await daemonStillServes()
    for (let i = 0; i < 100 && daemon.sessions > 0; i++) await new Promise((resolve) => setTimeout(resolve, 10))
    expect(daemon.sessions).toBe(0)
  })
})
