import { createDiffieHellman } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { seededRandom, type IRandom } from '../../../../src/interfaces/random.js'
import { createDhKeyPair, dhSharedSecret, MSE_DH_PRIME } from '../../../../src/transport/mse/dh.js'
import { fromHex, toHex } from '../../../../src/util/bytes.js'

/** A random source that hands out fixed bytes (for a known private key). */
function fixedRandom (bytes: Uint8Array): IRandom {
  return { next: () => 0, fill: (out) => { out.set(bytes.subarray(0, out.length)); return out } }
}

const PRIME_HEX = 'ffffffffffffffffc90fdaa22168c234c4c6628b80dc1cd129024e088a67cc74020bbea63b139b22514a08798e3404ddef9519b3cd3a431b302b0a6df25f14374fe1356d6d51c245e485b576625e7ec6f44c42e9a63a36210000000000090563'

describe('MSE Diffie-Hellman', () => {
  it('uses the spec prime (768 bits)', () => {
    expect(MSE_DH_PRIME.toString(16)).toBe(PRIME_HEX)
  })

  it('known answer: fixed private keys give the published-by-computation public keys and secret', () => {
    // Computed independently with Python's pow(2, x, P) / pow(y, x, P).
    const a = createDhKeyPair(fixedRandom(fromHex('0102030405060708090a0b0c0d0e0f1011121314')!))
    const b = createDhKeyPair(fixedRandom(fromHex('f1f2f3f4f5f6f7f8f9fafbfcfdfeff0001020304')!))
    expect(toHex(a.publicKey)).toBe('96e112dab29e8c5272accb9b17b26887ce54a144a4e3b697c7d159b7a817e556b0918db2b4c658e02a87f7e5fb14b18a553e084cbf3dad2d30f16596ccb982d406258c61b30c5c1dae2ddc60bdbd48d79896312aad63238c39e1a633821eb693')
    expect(toHex(b.publicKey)).toBe('d48fef394f3c42fc7e62dedab5899574374d9cf9efeebee86c8d33c975328a91b8e9de1a08ac465750368c10984635ded71b979c7236ed59667fef37880e9bad53974e3bc2295b192279afc099608b5abff1cc98b0ec1e6c5f166a948000165f')
    const secret = '61d7ce25e86d2d435132bd10ed5c30f3588c3bc0350820e88ebd24a0db47345ef66191f8c81a92ca694f72fcd1605ee8f1ba1e18cf25c40b06de4c967bcc96f7031bdabb704382536a497e98500997125067d79250f8e0c8dae2814e7a0b4e7e'
    expect(toHex(dhSharedSecret(a.privateKey, b.publicKey)!)).toBe(secret)
    expect(toHex(dhSharedSecret(b.privateKey, a.publicKey)!)).toBe(secret)
  })

  it('agrees with OpenSSL for random keys (public key and secret, 96 bytes, zero-padded)', () => {
    const random = seededRandom(42)
    for (let i = 0; i < 6; i++) {
      const ours = createDhKeyPair(random)
      const theirs = createDiffieHellman(Buffer.from(PRIME_HEX, 'hex'), 2)
      theirs.generateKeys()
      const theirPublic = new Uint8Array(96)
      const raw = theirs.getPublicKey()
      theirPublic.set(raw, 96 - raw.length)
      expect(ours.publicKey.length).toBe(96)
      const expected = theirs.computeSecret(Buffer.from(ours.publicKey))
      const padded = new Uint8Array(96)
      padded.set(expected, 96 - expected.length)
      expect(toHex(dhSharedSecret(ours.privateKey, theirPublic)!)).toBe(toHex(padded))
    }
  })

  it('refuses degenerate or malformed remote keys', () => {
    const { privateKey } = createDhKeyPair(seededRandom(1))
    const key = (value: bigint): Uint8Array => fromHex(value.toString(16).padStart(192, '0'))!
    expect(dhSharedSecret(privateKey, key(0n))).toBeNull()
    expect(dhSharedSecret(privateKey, key(1n))).toBeNull()
    expect(dhSharedSecret(privateKey, key(MSE_DH_PRIME - 1n))).toBeNull()
    expect(dhSharedSecret(privateKey, new Uint8Array(96).fill(0xff))).toBeNull()
    expect(dhSharedSecret(privateKey, new Uint8Array(95).fill(7))).toBeNull()
    expect(dhSharedSecret(privateKey, key(2n))).not.toBeNull()
  })
})
