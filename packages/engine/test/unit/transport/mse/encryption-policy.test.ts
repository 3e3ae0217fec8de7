import { describe, expect, it } from 'vitest'
import { ManualClock } from '../../../../adapters/memory/manual-clock.js'
import type { LodestoneError } from '../../../../src/errors.js'
import type { ITcpSocket } from '../../../../src/interfaces/socket.js'
import { seededRandom } from '../../../../src/interfaces/random.js'
import { pexPrefersEncryption } from '../../../../src/pex/pex-handler.js'
import { PEX_FLAG_PREFERS_ENCRYPTION, PEX_FLAG_SEED } from '../../../../src/protocol/ut-pex.js'
import { EncryptionPolicy } from '../../../../src/transport/mse/encryption-policy.js'
import { defaultEncryptionSettings, type EncryptionSettings } from '../../../../src/transport/mse/encryption-settings.js'
import { SKEY } from './mse-test-kit.js'

/** A dialled socket that records what is sent and can be closed from the far side. */
class StubSocket implements ITcpSocket {
  readonly remoteAddress = '10.0.0.9'
  readonly remotePort = 6881
  readonly localPort = 40000
  readonly bufferedBytes = 0
  sent = 0
  private closeCb: ((reason?: LodestoneError) => void) | null = null
  send (): boolean { this.sent++; return true }
  pause (): void {}
  resume (): void {}
  onData (): void {}
  onDrain (): void {}
  onClose (cb: (reason?: LodestoneError) => void): void { this.closeCb = cb }
  close (): void {}
  hangUp (): void { this.closeCb?.() }
}

const PEER = '10.0.0.9:6881'

function policy (settings: Partial<EncryptionSettings> = {}): EncryptionPolicy {
  return new EncryptionPolicy({ clock: new ManualClock(), random: seededRandom(3), settings: () => ({ ...defaultEncryptionSettings, ...settings }) })
}

/** Dials PEER once encrypted and has it hang up during the handshake (a refusal under 'prefer'). */
function refuseOnce (p: EncryptionPolicy): { redialled: boolean } {
  const outcome = { redialled: false }
  const socket = new StubSocket()
  const wrapped = p.wrapOutgoing(socket, PEER, SKEY, () => { outcome.redialled = true })
  expect(wrapped).not.toBe(socket)
  socket.hangUp()
  return outcome
}

describe('EncryptionPolicy: a peer\'s stated preference (BEP 10 e, PEX 0x01)', () => {
  it('a peer remembered as plaintext-only that prefers encryption is dialled encrypted again', () => {
    const p = policy({ mode: 'prefer' })
    expect(refuseOnce(p).redialled).toBe(true)
    expect(p.isPlaintextPeer(PEER)).toBe(true)
    const plain = new StubSocket()
    expect(p.wrapOutgoing(plain, PEER, SKEY, () => {})).toBe(plain)
    expect(p.peerPrefersEncryption(PEER)).toBe(true)
    expect(p.isPlaintextPeer(PEER)).toBe(false)
    const next = new StubSocket()
    expect(p.wrapOutgoing(next, PEER, SKEY, () => {})).not.toBe(next)
    expect(next.sent).toBe(1) // our DH key went out: the dial is encrypted
    // And if it refuses again, prefer falls back again (the memory is not poisoned).
    expect(refuseOnce(p).redialled).toBe(true)
    expect(p.stats().plaintextPeers).toBe(1)
  })

  it('a preference for a peer we know nothing about changes nothing', () => {
    const p = policy({ mode: 'prefer' })
    expect(p.peerPrefersEncryption(PEER)).toBe(false)
    expect(p.stats().plaintextPeers).toBe(0)
  })

  it('PEX flag 0x01 is read as the preference, whatever other flags are set', () => {
    const address = { host: '10.0.0.9', port: 6881 }
    expect(pexPrefersEncryption({ address, flags: PEX_FLAG_PREFERS_ENCRYPTION | PEX_FLAG_SEED })).toBe(true)
    expect(pexPrefersEncryption({ address, flags: PEX_FLAG_SEED })).toBe(false)
    expect(pexPrefersEncryption({ address, flags: 0 })).toBe(false)
  })
})
