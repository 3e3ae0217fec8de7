/**
 * The portable {@link IHasher}: WebCrypto's `crypto.subtle.digest`, present in Node >= 19, browsers
 * and workers. WebCrypto has no incremental API, so a multi-buffer input is copied into one buffer
 * first; the Node adapter's worker pool avoids that copy where it matters (piece verification).
 */
import type { HashAlgorithm, IHasher } from '../interfaces/hasher.js'
import { concatBytes } from '../util/bytes.js'
import { LodestoneError } from '../errors.js'

const WEB_CRYPTO_NAMES: Record<HashAlgorithm, 'SHA-1' | 'SHA-256'> = { sha1: 'SHA-1', sha256: 'SHA-256' }

/** {@link IHasher} over WebCrypto. `concurrency` is 1: the platform decides how digests run. */
export class WebCryptoHasher implements IHasher {
  readonly concurrency = 1
  private closed = false

  /**
   * Digest of the concatenation of `data`; the result is a new buffer the caller owns.
   * @throws LodestoneError `CLOSED` after {@link close}.
   */
  async digest (algorithm: HashAlgorithm, data: Uint8Array | readonly Uint8Array[]): Promise<Uint8Array> {
    if (this.closed) throw new LodestoneError('CLOSED', { what: 'hasher' })
    const input = data instanceof Uint8Array ? data : data.length === 1 && data[0] !== undefined ? data[0] : concatBytes(data)
    // The DOM typings (seen when tests type-check this file) want a view of a plain ArrayBuffer.
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion
    return new Uint8Array(await crypto.subtle.digest(WEB_CRYPTO_NAMES[algorithm], input as Uint8Array<ArrayBuffer>))
  }

  /** Marks the hasher closed; idempotent. */
  close (): Promise<void> {
    this.closed = true
    return Promise.resolve()
  }
}

/** The default hasher for the platform-agnostic core: a {@link WebCryptoHasher}. */
export function createDefaultHasher (): IHasher {
  return new WebCryptoHasher()
}
