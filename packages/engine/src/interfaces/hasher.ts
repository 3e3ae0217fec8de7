/** Hashing port. The portable default uses WebCrypto; the Node adapter runs a worker pool. */

export type HashAlgorithm = 'sha1' | 'sha256'

export interface IHasher {
  /**
   * Digest of the concatenation of `data` (one buffer or several, so a piece assembled from
   * blocks needs no copy). The hasher only reads `data` and never detaches it; the caller must not
   * modify it until the promise settles.
   */
  digest (algorithm: HashAlgorithm, data: Uint8Array | readonly Uint8Array[]): Promise<Uint8Array>
  /** How many digests can usefully run at once (e.g. worker count). */
  readonly concurrency: number
  /** Releases workers; idempotent. */
  close (): Promise<void>
}
