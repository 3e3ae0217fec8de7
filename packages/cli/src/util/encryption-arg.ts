/**
 * `--encryption prefer|require|disable` (download, seed) → the engine's `encryption.mode`.
 * 'prefer' (the engine default) dials encrypted and falls back to plaintext for a peer that
 * refuses; 'require' never talks plaintext; 'disable' never encrypts.
 */
import { Option } from 'commander'

export const ENCRYPTION_MODES = ['prefer', 'require', 'disable'] as const
export type EncryptionModeArg = typeof ENCRYPTION_MODES[number]

export function encryptionOption (): Option {
  return new Option('--encryption <mode>', 'protocol encryption (MSE/PE): prefer (dial encrypted, fall back to plaintext), require, or disable')
    .choices(ENCRYPTION_MODES)
}
