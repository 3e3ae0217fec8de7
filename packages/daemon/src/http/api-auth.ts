/**
 * Who may use the daemon's own HTTP surface (file streaming, metrics, our JSON API and its
 * WebSocket): the holder of the API token — `Authorization: Bearer <token>`, or `?token=` for what
 * cannot send headers (a `<video src>`, a browser WebSocket, mpv) — or, when RPC credentials are
 * configured, the same basic-auth user. The Host and Origin guards of the RPC apply too.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto'
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises'
import type { IncomingMessage } from 'node:http'
import { dirname } from 'node:path'
import { authorized, hostAllowed, originAllowed, type RpcAccess } from '../rpc/rpc-http.js'

function safeEqual (a: string, b: string): boolean {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

/** The token kept in `file` (created with mode 0600 on first use, 32 random bytes as hex). */
export async function loadOrCreateApiToken (file: string): Promise<string> {
  try {
    const token = (await readFile(file, 'utf8')).trim()
    if (/^[0-9a-f]{64}$/.test(token)) return token
  } catch { /* first run */ }
  const token = randomBytes(32).toString('hex')
  await mkdir(dirname(file), { recursive: true })
  await writeFile(file, `${token}\n`, { mode: 0o600 })
  await chmod(file, 0o600)
  return token
}

export type ApiVerdict = 'ok' | 'unauthorized' | 'forbidden'

export function checkApiAccess (req: IncomingMessage, url: URL, token: string, access: RpcAccess): ApiVerdict {
  if (!hostAllowed(req, access) && access.password === null) return 'forbidden'
  if (!originAllowed(req, access)) return 'forbidden'
  const header = req.headers.authorization
  if (typeof header === 'string' && /^bearer /i.test(header) && safeEqual(header.slice(7).trim(), token)) return 'ok'
  const query = url.searchParams.get('token')
  if (query !== null && safeEqual(query, token)) return 'ok'
  if (access.password !== null && authorized(req, access)) return 'ok'
  return 'unauthorized'
}
