/**
 * Announce tokens (BEP 5): a `get_peers` answer carries a token that the querier must hand back
 * in `announce_peer`, proving it can receive at the address it announces from. The token is a
 * hash of the querier's IP and a secret that rotates every `rotateMs` (BEP 5 suggests 5 minutes);
 * tokens made with the previous secret are still accepted, so a token lives 5 to 10 minutes.
 * Nothing is stored per querier: memory stays constant under any number of `get_peers`.
 */
import { sha1 } from '../hashing/sha1.js'
import type { IClock } from '../interfaces/clock.js'
import type { IRandom } from '../interfaces/random.js'
import { parseIp } from '../tracker/compact-peers.js'
import { utf8 } from '../util/bytes.js'

/** libtorrent sends 4-byte tokens; 8 bytes leave guessing no chance at any query rate. */
export const TOKEN_BYTES = 8
const SECRET_BYTES = 20

export class TokenSecrets {
  private current: Uint8Array
  private previous: Uint8Array
  private rotatedAtMs: number

  constructor (private readonly clock: IClock, private readonly random: IRandom, private readonly rotateMs = 5 * 60_000) {
    this.current = random.fill(new Uint8Array(SECRET_BYTES))
    this.previous = random.fill(new Uint8Array(SECRET_BYTES))
    this.rotatedAtMs = clock.now()
  }

  /** The token for a querier at `host` (an IP literal; names are hashed as text). */
  tokenFor (host: string): Uint8Array {
    this.rotate()
    return this.make(this.current, host)
  }

  /** Whether `token` was issued to `host` under the current or the previous secret. */
  isValid (token: Uint8Array, host: string): boolean {
    this.rotate()
    return sameBytes(token, this.make(this.current, host)) || sameBytes(token, this.make(this.previous, host))
  }

  private rotate (): void {
    const now = this.clock.now()
    if (now - this.rotatedAtMs < this.rotateMs) return
    // More than two periods idle: both secrets are stale.
    this.previous = now - this.rotatedAtMs >= 2 * this.rotateMs ? this.random.fill(new Uint8Array(SECRET_BYTES)) : this.current
    this.current = this.random.fill(new Uint8Array(SECRET_BYTES))
    this.rotatedAtMs = now
  }

  private make (secret: Uint8Array, host: string): Uint8Array {
    return sha1(secret, parseIp(host) ?? utf8(host)).subarray(0, TOKEN_BYTES)
  }
}

function sameBytes (a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  let diff = 0
  for (let i = 0; i < a.length; i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0)
  return diff === 0
}
