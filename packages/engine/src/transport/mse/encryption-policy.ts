/**
 * Applies the `encryption` settings to connections: wraps dialled sockets in an initiating
 * {@link MseSocket} (or not), wraps accepted ones in an accepting one that tells an encrypted
 * opening from a plaintext one, counts how handshakes end, and remembers peers that refused an
 * encrypted dial so 'prefer' re-dials them in plaintext at once and from then on. The reverse too:
 * a remembered peer whose plaintext dial fails before its handshake (it may have started to
 * require encryption) is forgotten and re-dialled encrypted once.
 *
 * The wrapping works on the stream port (ITcpSocket), so TCP, uTP and in-memory sockets get the
 * same treatment; nothing here knows the transport.
 */
import type { IClock } from '../../interfaces/clock.js'
import type { IRandom } from '../../interfaces/random.js'
import type { ITcpSocket } from '../../interfaces/socket.js'
import { CRYPTO_PLAINTEXT, CRYPTO_RC4, type MseFailureReason } from './mse-handshake.js'
import { MseSocket, type MseOutcome } from './mse-socket.js'
import type { EncryptionLevel, EncryptionSettings } from './encryption-settings.js'

/** Peers remembered as plaintext-only (oldest forgotten first). */
const MAX_REMEMBERED_PEERS = 10_000

export interface EncryptionPolicyDeps {
  clock: IClock
  random: IRandom
  /** Read on every connection, so run-time changes apply to the next one. */
  settings: () => EncryptionSettings
}

/** Counters of `engine.stats().encryption`. */
export interface EncryptionStats {
  /** Outgoing MSE handshakes that finished with RC4 selected. */
  outgoingRc4: number
  /** Outgoing MSE handshakes that finished with plaintext selected (obfuscated handshake only). */
  outgoingPlaintext: number
  /** Incoming MSE handshakes that finished with RC4 selected. */
  incomingRc4: number
  /** Incoming MSE handshakes that finished with plaintext selected. */
  incomingPlaintext: number
  /** Incoming plaintext BitTorrent openings (no MSE) that were let through. */
  incomingUnencrypted: number
  /** Outgoing dials made in plaintext because the peer had refused an encrypted one ('prefer'). */
  plaintextFallbacks: number
  /** Remembered plaintext peers whose plaintext dial then failed, re-dialled encrypted ('prefer'). */
  encryptedRetries: number
  /** Failed handshakes (both directions) by PEER_ENCRYPTION_FAILED reason. */
  failures: Partial<Record<MseFailureReason, number>>
  /** Peers currently remembered as refusing encrypted dials. */
  plaintextPeers: number
}

export class EncryptionPolicy {
  private readonly plaintextPeers = new Set<string>()
  /** Peers re-dialled encrypted after their plaintext dial failed: not flipped back again. */
  private readonly reversedPeers = new Set<string>()
  private readonly counters = {
    outgoingRc4: 0,
    outgoingPlaintext: 0,
    incomingRc4: 0,
    incomingPlaintext: 0,
    incomingUnencrypted: 0,
    plaintextFallbacks: 0,
    encryptedRetries: 0
  }

  private readonly failures: Partial<Record<MseFailureReason, number>> = {}

  constructor (private readonly deps: EncryptionPolicyDeps) {}

  /**
   * The socket to hand a dialled connection's consumer: `socket` itself for a plaintext dial
   * ('disable', or a peer remembered as plaintext-only under 'prefer'), else an initiating
   * MseSocket keyed with `skey`. `onRefused` runs when an encrypted dial failed under 'prefer'
   * and the peer is now remembered as plaintext-only: the caller re-dials it (once).
   * @param peerKey the dialled `host:port`
   */
  wrapOutgoing (socket: ITcpSocket, peerKey: string, skey: Uint8Array, onRefused: () => void): ITcpSocket {
    const { mode, level, handshakeTimeoutMs } = this.deps.settings()
    if (mode === 'disable') return socket
    if (mode === 'prefer' && this.plaintextPeers.has(peerKey)) {
      this.counters.plaintextFallbacks++
      return socket
    }
    return MseSocket.initiate(socket, this.deps, {
      skey,
      cryptoProvide: provideBits(level),
      timeoutMs: handshakeTimeoutMs,
      onSettled: (outcome) => {
        this.count('outgoing', outcome)
        if (outcome.ok) this.reversedPeers.delete(peerKey)
        if (outcome.ok || mode !== 'prefer') return
        remember(this.plaintextPeers, peerKey)
        // A peer already re-dialled encrypted after a failed plaintext dial is not flipped again now.
        if (!this.reversedPeers.has(peerKey)) onRefused()
      }
    })
  }

  /**
   * The socket to read an accepted connection's BitTorrent handshake from: it answers an MSE
   * opening (SKEY found by `findSkey`) or passes a plaintext one through, as the mode allows.
   */
  wrapIncoming (socket: ITcpSocket, findSkey: (req2: Uint8Array) => Uint8Array | null): ITcpSocket {
    const { mode, level, handshakeTimeoutMs } = this.deps.settings()
    return MseSocket.accept(socket, this.deps, {
      findSkey,
      selectCrypto: (provide) => selectCrypto(level, provide),
      allowPlaintext: mode !== 'require',
      allowEncrypted: mode !== 'disable',
      timeoutMs: handshakeTimeoutMs,
      onSettled: (outcome) => { this.count('incoming', outcome) }
    })
  }

  /**
   * A plaintext dial to a peer remembered as plaintext-only ended before its BitTorrent handshake.
   * Under 'prefer', the first time: the peer is forgotten (its next dial is encrypted) and true is
   * returned, so the caller re-dials it at once.
   */
  plaintextDialFailed (peerKey: string): boolean {
    if (this.deps.settings().mode !== 'prefer' || !this.plaintextPeers.has(peerKey) || this.reversedPeers.has(peerKey)) return false
    this.plaintextPeers.delete(peerKey)
    remember(this.reversedPeers, peerKey)
    this.counters.encryptedRetries++
    return true
  }

  /**
   * The peer at `peerKey` said it prefers encrypted connections (BEP 10 `e` = 1, or PEX flag 0x01
   * from another peer). A peer remembered as plaintext-only from an earlier refusal is forgotten,
   * so its next dial under 'prefer' is encrypted again (and falls back once more if refused).
   * Returns whether anything was forgotten.
   */
  peerPrefersEncryption (peerKey: string): boolean {
    if (!this.plaintextPeers.delete(peerKey)) return false
    this.reversedPeers.delete(peerKey)
    return true
  }

  /** Counts a failure found outside the handshake (e.g. 'skey-mismatch'). */
  countFailure (reason: MseFailureReason): void {
    this.failures[reason] = (this.failures[reason] ?? 0) + 1
  }

  /** Whether a dial to `peerKey` would be plaintext because it refused an encrypted one. */
  isPlaintextPeer (peerKey: string): boolean {
    return this.plaintextPeers.has(peerKey)
  }

  stats (): EncryptionStats {
    return { ...this.counters, failures: { ...this.failures }, plaintextPeers: this.plaintextPeers.size }
  }

  private count (direction: 'outgoing' | 'incoming', outcome: MseOutcome): void {
    if (!outcome.ok) {
      const reason = outcome.error.details as { reason?: string }
      this.countFailure((reason.reason ?? 'closed') as MseFailureReason)
      return
    }
    switch (outcome.encryption) {
      case 'rc4':
        if (direction === 'outgoing') this.counters.outgoingRc4++
        else this.counters.incomingRc4++
        return
      case 'plaintext':
        if (direction === 'outgoing') this.counters.outgoingPlaintext++
        else this.counters.incomingPlaintext++
        return
      case 'none':
        this.counters.incomingUnencrypted++
    }
  }

}

/** Adds `peerKey` to a bounded set of remembered peers (the oldest is forgotten first). */
function remember (peers: Set<string>, peerKey: string): void {
  peers.delete(peerKey)
  if (peers.size >= MAX_REMEMBERED_PEERS) {
    const oldest = peers.values().next()
    if (oldest.done !== true) peers.delete(oldest.value)
  }
  peers.add(peerKey)
}

/** crypto_provide for a level. */
export function provideBits (level: EncryptionLevel): number {
  switch (level) {
    case 'rc4': return CRYPTO_RC4
    case 'plaintext': return CRYPTO_PLAINTEXT
    case 'both': return CRYPTO_RC4 | CRYPTO_PLAINTEXT
  }
}

/** crypto_select out of the dialler's `provide` bits for a level; 0 refuses them all. */
export function selectCrypto (level: EncryptionLevel, provide: number): number {
  const rc4 = (provide & CRYPTO_RC4) !== 0
  const plaintext = (provide & CRYPTO_PLAINTEXT) !== 0
  switch (level) {
    case 'rc4': return rc4 ? CRYPTO_RC4 : 0
    case 'plaintext': return plaintext ? CRYPTO_PLAINTEXT : 0
    case 'both': return plaintext ? CRYPTO_PLAINTEXT : rc4 ? CRYPTO_RC4 : 0
  }
}
