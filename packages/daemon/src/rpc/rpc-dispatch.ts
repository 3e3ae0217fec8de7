/**
 * One RPC request body in, one response object out: `{ result, arguments, tag? }`. `result` is
 * `"success"` or a sentence saying what went wrong — for an unknown method, bad arguments, or an
 * engine refusal alike — so a client always gets an answer it can print (Transmission's
 * semantics; never an HTTP error for what is in the body). `tag` is echoed only when the request
 * carried one: transmission-remote picks its printer by it.
 */
import { isLodestoneError } from '@lodestone/engine'
import { RpcError, type Args, type RpcHost } from './rpc-types.js'
import { freeSpace, portTest, sessionGet, sessionSet, sessionStats } from './session-methods.js'
import { torrentAdd } from './torrent-add.js'
import {
  queueMove, torrentGet, torrentReannounce, torrentRemove, torrentRenamePath, torrentSet, torrentSetLocation,
  torrentStart, torrentStop, torrentVerify
} from './torrent-methods.js'

type Method = (host: RpcHost, args: Args, sessionId: string) => Record<string, unknown> | Promise<Record<string, unknown>>

const METHODS: Readonly<Record<string, Method>> = {
  'session-get': sessionGet,
  'session-set': sessionSet,
  'session-stats': sessionStats,
  'session-close': (host) => {
    // Answered first, then the owner shuts down (transmission-remote --exit expects the reply).
    setTimeout(() => { host.requestClose() }, 50)
    return {}
  },
  'free-space': freeSpace,
  'port-test': portTest,
  'blocklist-update': () => { throw new RpcError('no blocklist is configured') },
  'torrent-add': torrentAdd,
  'torrent-get': torrentGet,
  'torrent-set': torrentSet,
  'torrent-start': torrentStart,
  'torrent-start-now': torrentStart,
  'torrent-stop': torrentStop,
  'torrent-verify': torrentVerify,
  'torrent-reannounce': torrentReannounce,
  'torrent-remove': torrentRemove,
  'torrent-set-location': torrentSetLocation,
  'torrent-rename-path': torrentRenamePath,
  'queue-move-top': queueMove('top'),
  'queue-move-up': queueMove('up'),
  'queue-move-down': queueMove('down'),
  'queue-move-bottom': queueMove('bottom')
}

export interface RpcResponse {
  result: string
  arguments: Record<string, unknown>
  tag?: number
}

function isPlainObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** The message to show for a failure: ours as is, the engine's typed errors by their message. */
function describe (err: unknown): string {
  if (err instanceof RpcError) return err.message
  if (isLodestoneError(err)) return err.message
  return `internal error: ${err instanceof Error ? err.message : String(err)}`
}

/** Parses and runs one request body (already bounded in size by the HTTP layer). */
export async function dispatchRpc (host: RpcHost, body: string, sessionId: string): Promise<RpcResponse> {
  let request: unknown
  try {
    request = JSON.parse(body)
  } catch {
    return { result: 'invalid JSON request body', arguments: {} }
  }
  if (!isPlainObject(request)) return { result: 'the request must be a JSON object', arguments: {} }
  const tag = typeof request.tag === 'number' && Number.isInteger(request.tag) ? request.tag : undefined
  const withTag = (r: RpcResponse): RpcResponse => tag === undefined ? r : { ...r, tag }
  const name = request.method
  if (typeof name !== 'string') return withTag({ result: 'no method name', arguments: {} })
  const method = Object.hasOwn(METHODS, name) ? METHODS[name] : undefined
  if (method === undefined) return withTag({ result: `method name not recognized: ${name.slice(0, 64)}`, arguments: {} })
  const args = request.arguments ?? {}
  if (!isPlainObject(args)) return withTag({ result: 'arguments must be an object', arguments: {} })
  try {
    return withTag({ result: 'success', arguments: await method(host, args, sessionId) })
  } catch (err) {
    return withTag({ result: describe(err), arguments: {} })
  }
}
