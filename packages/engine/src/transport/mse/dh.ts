/**
 * The Diffie–Hellman exchange of MSE/PE: 768-bit MODP group (the Oakley group 1 prime the spec
 * names) with generator 2, public keys as 96 big-endian bytes.
 *
 * Why BigInt: a modular exponentiation with native BigInt (V8 multiplies 64-bit limbs in C++)
 * takes ~0.25 ms for a 160-bit exponent here; a Montgomery multiplication over 16-bit limbs in
 * typed arrays, measured on the same machine, took ~2.9 ms. `2^x mod P` needs no multiplications
 * at all (doubling is a shift), ~0.15 ms, so one side's whole exchange is ~0.4 ms of CPU.
 * Private keys are 160 bits, as the spec recommends and other clients use.
 */
import type { IRandom } from '../../interfaces/random.js'
import { fromHex, toHex } from '../../util/bytes.js'

/** The MSE prime P (768 bits). */
export const MSE_DH_PRIME = BigInt('0x' +
  'FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E34' +
  '04DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A63A3621000000000' +
  '0090563')

/** Public keys and the shared secret travel as this many big-endian bytes. */
export const MSE_DH_KEY_BYTES = 96

/** Private exponent size (the spec: "current implementations use 160 bits"). */
export const MSE_PRIVATE_KEY_BYTES = 20

export interface DhKeyPair {
  readonly privateKey: bigint
  /** `2^privateKey mod P`, 96 bytes big-endian. */
  readonly publicKey: Uint8Array
}

/** A fresh key pair from `random`. */
export function createDhKeyPair (random: IRandom): DhKeyPair {
  let privateKey = 0n
  while (privateKey < 2n) privateKey = bytesToBigInt(random.fill(new Uint8Array(MSE_PRIVATE_KEY_BYTES)))
  return { privateKey, publicKey: bigIntToBytes(powerOfTwo(privateKey), MSE_DH_KEY_BYTES) }
}

/** One side's half of the exchange: its public key, and the shared secret with the peer's public key. */
export interface MseKeyExchange {
  /** 96 bytes big-endian. */
  readonly publicKey: Uint8Array
  /** `remote^ours mod P` as 96 bytes, or null for an unusable remote key (see {@link dhSharedSecret}). */
  sharedSecret: (remotePublicKey: Uint8Array) => Uint8Array | null
}

/** A key exchange over a fresh key pair from `random`. */
export function createKeyExchange (random: IRandom): MseKeyExchange {
  const keys = createDhKeyPair(random)
  return { publicKey: keys.publicKey, sharedSecret: (remote) => dhSharedSecret(keys.privateKey, remote) }
}

/**
 * The shared secret `remote^privateKey mod P` as 96 bytes, or null when the remote key is not a
 * usable public key (outside 2..P-2, which would make the secret trivially guessable).
 */
export function dhSharedSecret (privateKey: bigint, remotePublicKey: Uint8Array): Uint8Array | null {
  if (remotePublicKey.length !== MSE_DH_KEY_BYTES) return null
  const y = bytesToBigInt(remotePublicKey)
  if (y < 2n || y > MSE_DH_PRIME - 2n) return null
  return bigIntToBytes(modPow(y, privateKey, MSE_DH_PRIME), MSE_DH_KEY_BYTES)
}

/** `2^exponent mod P`, left to right: square, and double (a shift) for each set bit. */
function powerOfTwo (exponent: bigint): bigint {
  const bits = exponent.toString(2)
  let r = 1n
  for (let i = 0; i < bits.length; i++) {
    r = (r * r) % MSE_DH_PRIME
    if (bits.charCodeAt(i) === 49) {
      r <<= 1n
      if (r >= MSE_DH_PRIME) r -= MSE_DH_PRIME
    }
  }
  return r
}

/** `base^exponent mod modulus`, left to right square-and-multiply. */
export function modPow (base: bigint, exponent: bigint, modulus: bigint): bigint {
  const bits = exponent.toString(2)
  const b = base % modulus
  let r = 1n
  for (let i = 0; i < bits.length; i++) {
    r = (r * r) % modulus
    if (bits.charCodeAt(i) === 49) r = (r * b) % modulus
  }
  return r
}

function bytesToBigInt (bytes: Uint8Array): bigint {
  return bytes.length === 0 ? 0n : BigInt('0x' + toHex(bytes))
}

/** Big-endian, left-padded with zeros to `length` bytes. */
function bigIntToBytes (value: bigint, length: number): Uint8Array {
  return fromHex(value.toString(16).padStart(length * 2, '0'))!
}
