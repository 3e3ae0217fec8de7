/**
 * The MSE/PE (Message Stream Encryption) handshake as a sans-I/O state machine: bytes in, bytes to
 * send out, a result or a typed error. It never touches a socket or a timer, so the same code runs
 * over TCP, uTP or an in-memory stream, and tests can feed it any split of a real exchange.
 *
 * The exchange (A dials, B accepts; S the DH secret, SKEY the torrent's 20-byte info hash):
 *   1 A→B  Ya, PadA
 *   2 B→A  Yb, PadB
 *   3 A→B  HASH('req1', S), HASH('req2', SKEY) xor HASH('req3', S),
 *          ENCRYPT(VC, crypto_provide, len(PadC), PadC, len(IA)), ENCRYPT(IA)
 *   4 B→A  ENCRYPT(VC, crypto_select, len(PadD), PadD), ENCRYPT2(payload)
 *   5 A→B  ENCRYPT2(payload)
 * ENCRYPT is RC4 keyed with HASH('keyA', S, SKEY) from A and HASH('keyB', S, SKEY) from B, the
 * first 1 024 keystream bytes discarded; ENCRYPT2 is the selected method (RC4 continuing the same
 * keystreams, or plaintext). Pads are 0–512 random bytes. Neither side knows where the other's pad
 * ends, so B scans for HASH('req1', S) and A scans for the encrypted VC, each within the pad limit.
 *
 * Limits (remote input is hostile): a sync marker not found within 512 pad bytes, a pad length
 * over 512, a degenerate DH key, an unknown SKEY, a bad VC or an unacceptable crypto choice ends
 * the handshake with `PEER_ENCRYPTION_FAILED` and a stable reason token. Buffered bytes are
 * bounded by the protocol (~67 KiB at most, the IA included) plus the chunk that completes it.
 */
import { ProtocolError } from '../../errors.js'
import { sha1 } from '../../hashing/sha1.js'
import type { IRandom } from '../../interfaces/random.js'
import { createKeyExchange, MSE_DH_KEY_BYTES, type MseKeyExchange } from './dh.js'
import { MSE_RC4_DISCARD_BYTES, Rc4 } from './rc4.js'

/** crypto_provide / crypto_select bit: plaintext after the handshake (header obfuscation only). */
export const CRYPTO_PLAINTEXT = 0x01
/** crypto_provide / crypto_select bit: RC4 for the whole stream. */
export const CRYPTO_RC4 = 0x02
/** The spec's upper bound on every pad. */
export const MSE_MAX_PAD_BYTES = 512
/** len(IA) is a 16-bit field. */
export const MSE_MAX_INITIAL_PAYLOAD_BYTES = 65_535

const VC_BYTES = 8
const HASH_BYTES = 20

/** Why a handshake failed: the `reason` of `PEER_ENCRYPTION_FAILED`, stable for counting. */
export type MseFailureReason =
  | 'closed' // the peer hung up during the handshake
  | 'timeout' // the handshake did not finish in time
  | 'bad-dh-key' // the peer's public key is degenerate (outside 2..P-2)
  | 'no-req1' // (accepting) HASH('req1', S) not found within the pad limit
  | 'unknown-skey' // (accepting) no torrent of ours matches the peer's SKEY
  | 'no-vc' // the verification constant was not found (dialling) or not zero (accepting)
  | 'pad-too-long' // a pad length above 512
  | 'crypto-refused' // no method the peer provides is acceptable to us
  | 'bad-crypto-select' // (dialling) the peer selected a method we did not provide
  | 'plaintext-refused' // (accepting) a plaintext handshake while encryption is required
  | 'encrypted-refused' // (accepting) an encrypted handshake while encryption is disabled
  | 'skey-mismatch' // (accepting) the BitTorrent handshake names another torrent than the SKEY

export function mseError (reason: MseFailureReason, cause?: unknown): ProtocolError<'PEER_ENCRYPTION_FAILED'> {
  return new ProtocolError('PEER_ENCRYPTION_FAILED', { reason }, cause !== undefined ? { cause } : undefined)
}

export interface MseHandshakeResult {
  /** The selected method for the rest of the stream. */
  readonly method: 'rc4' | 'plaintext'
  /** The torrent's 20-byte hash the handshake was keyed with. */
  readonly skey: Uint8Array
  /** Our direction's RC4, positioned after the handshake (used when `method` is 'rc4'). */
  readonly encryptor: Rc4
  /** The peer's direction's RC4, positioned after the handshake (used when `method` is 'rc4'). */
  readonly decryptor: Rc4
  /** Accepting side: the initiator's IA, decrypted (stream bytes that come first). Dialling side: empty. */
  readonly initialPayload: Uint8Array
  /** Bytes received after the handshake, as they came off the wire (decrypt them if 'rc4'). */
  readonly remainder: Uint8Array
}

export interface MseInitiatorOptions {
  role: 'initiator'
  /** The info hash (v1, or a v2 hash truncated to 20 bytes) of the torrent we dial for. */
  skey: Uint8Array
  /** CRYPTO_* bits we offer. */
  cryptoProvide: number
  /**
   * Called once, when step 3 is built: the initial payload to carry (at most 65 535 bytes;
   * normally our BitTorrent handshake). The handshake takes ownership of the returned bytes.
   */
  takeInitialPayload: () => Uint8Array
}

export interface MseResponderOptions {
  role: 'responder'
  /** The SKEY (20 bytes) whose `HASH('req2', SKEY)` equals `req2`, or null if it is none of ours. */
  findSkey: (req2: Uint8Array) => Uint8Array | null
  /** Picks one CRYPTO_* bit out of the initiator's `provide` bits; 0 refuses them all. */
  selectCrypto: (provide: number) => number
}

export interface MseHandshakeDeps {
  random: IRandom
  /** Our own pads are 0..this many random bytes (at most 512). @default 512 */
  maxPadBytes?: number
  /**
   * Our half of the DH exchange. Default: a fresh key pair from `random`, as every real connection
   * needs. Fuzzing passes a fixed key pair whose secrets are cached, so its inputs do not each pay
   * for two 768-bit exponentiations.
   */
  keyExchange?: MseKeyExchange
}

type Stage =
  | 'start' | 'yb' | 'sync-vc' | 'select' | 'pad-d' // dialling
  | 'ya' | 'sync-req1' | 'skey' | 'provide' | 'pad-c' | 'ia' // accepting
  | 'done' | 'failed'

const ASCII = new TextEncoder()
const REQ1 = ASCII.encode('req1')
const REQ2 = ASCII.encode('req2')
const REQ3 = ASCII.encode('req3')
const KEY_A = ASCII.encode('keyA')
const KEY_B = ASCII.encode('keyB')

/** `HASH('req2', SKEY)`: what the accepting side matches SKEYs by (precompute it per torrent). */
export function mseReq2Hash (skey: Uint8Array): Uint8Array {
  return sha1(REQ2, skey)
}

export class MseHandshake {
  private stage: Stage
  private readonly keys: MseKeyExchange
  private readonly maxPadBytes: number
  /** Received bytes not yet consumed: `buf[pos..len)`. */
  private buf = new Uint8Array(0)
  private pos = 0
  private len = 0
  /** Where the pad being scanned starts. */
  private scanStart = 0
  private secret: Uint8Array | null = null
  /** Accepting: HASH('req1', S) to find, HASH('req3', S) to unmask SKEY. Dialling: encrypted VC to find. */
  private marker: Uint8Array | null = null
  private req3: Uint8Array | null = null
  private skey: Uint8Array | null = null
  private encryptor: Rc4 | null = null
  private decryptor: Rc4 | null = null
  private provide = 0
  private select = 0
  /** Length of the next variable field (a pad, or the IA). */
  private fieldLength = 0
  private initialPayload: Uint8Array = new Uint8Array(0)
  private outcome: MseHandshakeResult | null = null

  constructor (private readonly options: MseInitiatorOptions | MseResponderOptions, private readonly deps: MseHandshakeDeps) {
    this.stage = options.role === 'initiator' ? 'start' : 'ya'
    this.maxPadBytes = Math.max(0, Math.min(MSE_MAX_PAD_BYTES, deps.maxPadBytes ?? MSE_MAX_PAD_BYTES))
    this.keys = deps.keyExchange ?? createKeyExchange(deps.random)
  }

  get role (): 'initiator' | 'responder' { return this.options.role }
  get done (): boolean { return this.stage === 'done' }
  /** Set once `done`. */
  get result (): MseHandshakeResult | null { return this.outcome }

  /** Dialling side: step 1 (Ya, PadA), to send first. Accepting side: nothing (it waits for Ya). */
  start (): Uint8Array {
    if (this.options.role !== 'initiator' || this.stage !== 'start') return new Uint8Array(0)
    this.stage = 'yb'
    return this.publicKeyWithPad()
  }

  /**
   * Feeds bytes from the peer (the handshake copies what it keeps; `chunk` may be reused after).
   * Returns what to send in answer, in order (often nothing).
   * @throws ProtocolError PEER_ENCRYPTION_FAILED (the handshake is then dead: close the connection).
   */
  receive (chunk: Uint8Array): Uint8Array[] {
    if (this.stage === 'done' || this.stage === 'failed') return []
    this.append(chunk)
    const out: Uint8Array[] = []
    try {
      while (this.step(out)) { /* each step consumes bytes or changes stage */ }
    } catch (error) {
      this.stage = 'failed'
      throw error
    }
    return out
  }

  /** Runs one stage if its bytes are there; false when it must wait for more. */
  private step (out: Uint8Array[]): boolean {
    switch (this.stage) {
      case 'start': return false
      case 'yb': return this.onPeerPublicKey(out)
      case 'sync-vc': return this.syncVc()
      case 'select': return this.onSelect()
      case 'pad-d': return this.onPadD()
      case 'ya': return this.onPeerPublicKey(out)
      case 'sync-req1': return this.syncReq1()
      case 'skey': return this.onSkey()
      case 'provide': return this.onProvide()
      case 'pad-c': return this.onPadC()
      case 'ia': return this.onInitialPayload(out)
      case 'done': return false
      case 'failed': return false
    }
  }

  // ------------------------------------------------------------------ both sides

  private onPeerPublicKey (out: Uint8Array[]): boolean {
    const key = this.take(MSE_DH_KEY_BYTES)
    if (key === null) return false
    const secret = this.keys.sharedSecret(key)
    if (secret === null) throw mseError('bad-dh-key')
    this.secret = secret
    this.scanStart = this.pos
    if (this.options.role === 'responder') {
      out.push(this.publicKeyWithPad())
      this.marker = sha1(REQ1, secret)
      this.req3 = sha1(REQ3, secret)
      this.stage = 'sync-req1'
      return true
    }
    out.push(this.step3(this.options, secret))
    this.stage = 'sync-vc'
    return true
  }

  /** Our public key followed by a random pad. */
  private publicKeyWithPad (): Uint8Array {
    const pad = this.padLengthBytes()
    const out = new Uint8Array(MSE_DH_KEY_BYTES + pad)
    out.set(this.keys.publicKey, 0)
    if (pad > 0) this.deps.random.fill(out.subarray(MSE_DH_KEY_BYTES))
    return out
  }

  private padLengthBytes (): number {
    return Math.floor(this.deps.random.next() * (this.maxPadBytes + 1))
  }

  // ------------------------------------------------------------------ dialling side

  private step3 (options: MseInitiatorOptions, secret: Uint8Array): Uint8Array {
    const skey = options.skey
    this.skey = skey
    const encryptor = new Rc4(sha1(KEY_A, secret, skey), MSE_RC4_DISCARD_BYTES)
    const decryptor = new Rc4(sha1(KEY_B, secret, skey), MSE_RC4_DISCARD_BYTES)
    // The peer's step 4 starts with ENCRYPT(VC): eight zero bytes through its keystream. Producing
    // them here also leaves the decryptor just past the VC, where the peer's stream continues.
    const vc = new Uint8Array(VC_BYTES)
    decryptor.process(vc)
    this.marker = vc
    this.encryptor = encryptor
    this.decryptor = decryptor
    this.provide = options.cryptoProvide
    let ia = options.takeInitialPayload()
    if (ia.length > MSE_MAX_INITIAL_PAYLOAD_BYTES) ia = ia.subarray(0, MSE_MAX_INITIAL_PAYLOAD_BYTES)
    const pad = this.padLengthBytes()
    const head = HASH_BYTES * 2
    const out = new Uint8Array(head + VC_BYTES + 4 + 2 + pad + 2 + ia.length)
    out.set(sha1(REQ1, secret), 0)
    const req2 = mseReq2Hash(skey)
    const req3 = sha1(REQ3, secret)
    for (let i = 0; i < HASH_BYTES; i++) out[HASH_BYTES + i] = req2[i]! ^ req3[i]!
    const view = new DataView(out.buffer)
    let at = head + VC_BYTES // VC stays zero
    view.setUint32(at, options.cryptoProvide)
    at += 4
    view.setUint16(at, pad)
    at += 2
    if (pad > 0) this.deps.random.fill(out.subarray(at, at + pad))
    at += pad
    view.setUint16(at, ia.length)
    at += 2
    out.set(ia, at)
    encryptor.process(out.subarray(head))
    return out
  }

  private syncVc (): boolean {
    const found = this.scan(this.marker!, 'no-vc')
    if (!found) return false
    this.stage = 'select'
    return true
  }

  private onSelect (): boolean {
    const bytes = this.take(6)
    if (bytes === null) return false
    this.decryptor!.process(bytes)
    const view = new DataView(bytes.buffer, bytes.byteOffset, 6)
    const select = view.getUint32(0)
    const pad = view.getUint16(4)
    if (pad > MSE_MAX_PAD_BYTES) throw mseError('pad-too-long')
    if ((select !== CRYPTO_PLAINTEXT && select !== CRYPTO_RC4) || (select & this.provide) === 0) throw mseError('bad-crypto-select')
    this.select = select
    this.fieldLength = pad
    this.stage = 'pad-d'
    return true
  }

  private onPadD (): boolean {
    const pad = this.take(this.fieldLength)
    if (pad === null) return false
    this.decryptor!.skip(pad.length)
    this.finish()
    return true
  }

  // ------------------------------------------------------------------ accepting side

  private syncReq1 (): boolean {
    const found = this.scan(this.marker!, 'no-req1')
    if (!found) return false
    this.stage = 'skey'
    return true
  }

  private onSkey (): boolean {
    const masked = this.take(HASH_BYTES)
    if (masked === null) return false
    const options = this.options as MseResponderOptions
    const req2 = new Uint8Array(HASH_BYTES)
    const req3 = this.req3!
    for (let i = 0; i < HASH_BYTES; i++) req2[i] = masked[i]! ^ req3[i]!
    const skey = options.findSkey(req2)
    if (skey === null) throw mseError('unknown-skey')
    const secret = this.secret!
    this.skey = skey
    this.decryptor = new Rc4(sha1(KEY_A, secret, skey), MSE_RC4_DISCARD_BYTES)
    this.encryptor = new Rc4(sha1(KEY_B, secret, skey), MSE_RC4_DISCARD_BYTES)
    this.stage = 'provide'
    return true
  }

  private onProvide (): boolean {
    const bytes = this.take(VC_BYTES + 4 + 2)
    if (bytes === null) return false
    this.decryptor!.process(bytes)
    for (let i = 0; i < VC_BYTES; i++) if (bytes[i] !== 0) throw mseError('no-vc')
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length)
    this.provide = view.getUint32(VC_BYTES)
    const pad = view.getUint16(VC_BYTES + 4)
    if (pad > MSE_MAX_PAD_BYTES) throw mseError('pad-too-long')
    // Choose now, so a peer offering nothing acceptable is refused before it sends its IA.
    const select = (this.options as MseResponderOptions).selectCrypto(this.provide)
    if ((select !== CRYPTO_PLAINTEXT && select !== CRYPTO_RC4) || (select & this.provide) === 0) throw mseError('crypto-refused')
    this.select = select
    this.fieldLength = pad
    this.stage = 'pad-c'
    return true
  }

  private onPadC (): boolean {
    const bytes = this.take(this.fieldLength + 2)
    if (bytes === null) return false
    this.decryptor!.process(bytes)
    this.fieldLength = (bytes[bytes.length - 2]! << 8) | bytes[bytes.length - 1]!
    this.stage = 'ia'
    return true
  }

  private onInitialPayload (out: Uint8Array[]): boolean {
    const bytes = this.take(this.fieldLength)
    if (bytes === null) return false
    this.decryptor!.process(bytes)
    this.initialPayload = bytes.slice()
    const select = this.select
    const pad = this.padLengthBytes()
    const step4 = new Uint8Array(VC_BYTES + 4 + 2 + pad)
    const view = new DataView(step4.buffer)
    view.setUint32(VC_BYTES, select)
    view.setUint16(VC_BYTES + 4, pad)
    if (pad > 0) this.deps.random.fill(step4.subarray(VC_BYTES + 6))
    this.encryptor!.process(step4)
    out.push(step4)
    this.finish()
    return true
  }

  // ------------------------------------------------------------------ buffer

  private finish (): void {
    this.stage = 'done'
    this.outcome = {
      method: this.select === CRYPTO_RC4 ? 'rc4' : 'plaintext',
      skey: this.skey!,
      encryptor: this.encryptor!,
      decryptor: this.decryptor!,
      initialPayload: this.initialPayload,
      remainder: this.buf.subarray(this.pos, this.len)
    }
    // The remainder is a view of the buffer, which the handshake no longer uses.
    this.buf = new Uint8Array(0)
    this.pos = 0
    this.len = 0
  }

  /**
   * Looks for `marker` starting at most `MSE_MAX_PAD_BYTES` after `scanStart`; on success consumes
   * everything up to and including it. Fails with `reason` once the window is exhausted.
   */
  private scan (marker: Uint8Array, reason: MseFailureReason): boolean {
    const buf = this.buf
    const lastStart = Math.min(this.len - marker.length, this.scanStart + MSE_MAX_PAD_BYTES)
    const first = marker[0]!
    for (let i = this.pos; i <= lastStart; i++) {
      if (buf[i] !== first) continue
      let k = 1
      while (k < marker.length && buf[i + k] === marker[k]) k++
      if (k === marker.length) {
        this.pos = i + marker.length
        return true
      }
    }
    if (this.len - this.scanStart >= MSE_MAX_PAD_BYTES + marker.length) throw mseError(reason)
    // Positions before this one cannot start the marker: skip them next time.
    this.pos = Math.max(this.pos, lastStart + 1)
    return false
  }

  /** The next `n` unconsumed bytes (a view of the buffer), or null until they are all there. */
  private take (n: number): Uint8Array | null {
    if (this.len - this.pos < n) return null
    const out = this.buf.subarray(this.pos, this.pos + n)
    this.pos += n
    return out
  }

  private append (chunk: Uint8Array): void {
    if (chunk.length === 0) return
    if (this.len + chunk.length > this.buf.length) {
      // Drop consumed bytes before growing; stages only keep views while they run.
      const live = this.len - this.pos
      const next = new Uint8Array(Math.max(live + chunk.length, Math.min(2 * this.buf.length, live + chunk.length + 4_096)))
      next.set(this.buf.subarray(this.pos, this.len), 0)
      this.scanStart -= this.pos
      this.buf = next
      this.len = live
      this.pos = 0
    }
    this.buf.set(chunk, this.len)
    this.len += chunk.length
  }
}
