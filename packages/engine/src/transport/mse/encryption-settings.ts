/**
 * MSE/PE policy settings (section `encryption`). Kept apart from the policy class so
 * `EngineSettings` can hold them without importing it.
 */

/**
 * 'prefer': dial encrypted, accept both, and re-dial a peer that refuses the encrypted opening in
 * plaintext (once; remembered for that peer). 'require': never a plaintext BitTorrent opening,
 * either way. 'disable': plaintext only; encrypted openings are refused.
 */
export type EncryptionMode = 'prefer' | 'require' | 'disable'

/**
 * What the stream after an MSE handshake may be: 'rc4' (encrypted), 'plaintext' (only the
 * handshake is obfuscated), or 'both' (we offer both; accepting, we pick plaintext when the
 * dialler offers it, as libtorrent does, since the opening is obfuscated either way).
 */
export type EncryptionLevel = 'rc4' | 'plaintext' | 'both'

/** Settings section `encryption`: protocol encryption (MSE/PE) policy. */
export interface EncryptionSettings {
  /** @default 'prefer' */
  mode: EncryptionMode
  /** @default 'both' */
  level: EncryptionLevel
  /**
   * An MSE handshake must finish within this long (a stalled one is closed with reason
   * 'timeout'; under 'prefer' an outgoing one then falls back to plaintext). @default 10_000
   */
  handshakeTimeoutMs: number
}

export const defaultEncryptionSettings: Readonly<EncryptionSettings> = {
  mode: 'prefer',
  level: 'both',
  handshakeTimeoutMs: 10_000
}
