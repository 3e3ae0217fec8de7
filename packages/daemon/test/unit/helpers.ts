// An in-process daemon on 127.0.0.1 with loopback-only engine settings, and a small RPC client
// that does the 409 handshake the way transmission-remote does.
import { createHash } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { request } from 'node:http'
import { bencodeEncode, type BencodeEncodable } from '@lodestone/engine/protocol'
import { LodestoneDaemon, mergeDaemonSettings, type DaemonSettings } from '../../src/index.js'

export const LOOPBACK_ENGINE = {
  listen: { host: '127.0.0.1', port: 0 },
  discovery: { dht: false, lsd: false, portMapping: false, pex: false }
}

export interface TestDaemon {
  daemon: LodestoneDaemon
  dir: string
  downloadDir: string
  stateDir: string
  close: () => Promise<void>
}

export async function startTestDaemon (overrides: Partial<DaemonSettings> = {}, dir?: string): Promise<TestDaemon> {
  const base = dir ?? await mkdtemp(join(tmpdir(), 'lodestone-daemon-'))
  const downloadDir = join(base, 'downloads')
  const stateDir = join(base, 'state')
  const settings = mergeDaemonSettings({ rpcPort: 0, downloadDir, stateDir, engine: LOOPBACK_ENGINE }, overrides)
  const daemon = await LodestoneDaemon.start({ settings, logLevel: 'off' })
  return {
    daemon,
    dir: base,
    downloadDir,
    stateDir,
    close: async () => {
      await daemon.close()
      if (dir === undefined) await rm(base, { recursive: true, force: true })
    }
  }
}

export interface HttpAnswer { status: number, headers: Record<string, string | string[] | undefined>, body: string, raw?: Buffer }

/** One raw HTTP request (no handshake). */
export async function httpRequest (port: number, options: { method?: string, path?: string, headers?: Record<string, string>, body?: string | Buffer, raw?: boolean }): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method: options.method ?? 'POST', path: options.path ?? '/transmission/rpc', headers: options.headers ?? {}, agent: false }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => { const all = Buffer.concat(chunks); resolve({ status: res.statusCode ?? 0, headers: res.headers, body: all.toString('utf8'), ...(options.raw === true ? { raw: all } : {}) }) })
      res.on('error', reject)
    })
    req.on('error', reject)
    if (options.body !== undefined) req.write(options.body)
    req.end()
  })
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- arguments differ per method; tests read them as JSON
export interface RpcAnswer { result: string, arguments: any, tag?: number }

/** Calls a method after the 409 handshake; returns the parsed response. */
export class RpcClient {
  private sessionId = ''
  constructor (readonly port: number, private readonly extraHeaders: Record<string, string> = {}) {}

  async call (method: string, args: Record<string, unknown> = {}, tag?: number): Promise<RpcAnswer> {
    const body = JSON.stringify({ method, arguments: args, ...(tag !== undefined ? { tag } : {}) })
    for (let attempt = 0; attempt < 2; attempt++) {
      const answer = await httpRequest(this.port, { body, headers: { ...this.extraHeaders, 'X-Transmission-Session-Id': this.sessionId } })
      if (answer.status === 409) {
        this.sessionId = String(answer.headers['x-transmission-session-id'])
        continue
      }
      if (answer.status !== 200) throw new Error(`HTTP ${answer.status}: ${answer.body}`)
      return JSON.parse(answer.body)
    }
    throw new Error('handshake failed twice')
  }
}

/** A single-file .torrent of `length` bytes of pattern data. */
export function smallTorrent (name: string, length = 40_000, pieceLength = 16_384): Uint8Array {
  const data = Buffer.alloc(length, name)
  const hashes: Buffer[] = []
  for (let at = 0; at < length; at += pieceLength) hashes.push(createHash('sha1').update(data.subarray(at, at + pieceLength)).digest())
  return bencodeEncode(new Map<string, BencodeEncodable>([['info', new Map<string, BencodeEncodable>([
    ['length', length], ['name', name], ['piece length', pieceLength], ['pieces', Buffer.concat(hashes)]
  ])]]))
}


/** A multi-file .torrent (pattern data) with `files` as path → length, in order. */
export function multiTorrent (name: string, files: Array<[string, number]>, pieceLength = 16_384): Uint8Array {
  const data = Buffer.concat(files.map(([path, length]) => Buffer.alloc(length, path)))
  const hashes: Buffer[] = []
  for (let at = 0; at < data.length; at += pieceLength) hashes.push(createHash('sha1').update(data.subarray(at, at + pieceLength)).digest())
  const list = files.map(([path, length]) => new Map<string, BencodeEncodable>([['length', length], ['path', path.split('/')]]))
  return bencodeEncode(new Map<string, BencodeEncodable>([['info', new Map<string, BencodeEncodable>([
    ['files', list], ['name', name], ['piece length', pieceLength], ['pieces', Buffer.concat(hashes)]
  ])]]))
}
