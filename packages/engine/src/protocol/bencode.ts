/**
 * Bencode (BEP 3) decoder and canonical encoder.
 *
 * Why it looks like this:
 * - Every byte we decode may come from a hostile peer, tracker or .torrent, so the decoder is strict
 *   (no leading zeros, no `-0`, no empty integers, sorted unique dict keys, no trailing bytes) and
 *   bounded (depth, string length, total size, item count). Every failure is a `LodestoneError`
 *   (`BENCODE_INVALID` / `BENCODE_LIMIT`) carrying the byte offset; nothing else escapes.
 * - Byte strings are returned as zero-copy `subarray` views of the input: decoding a 10 MB
 *   `pieces` string costs nothing. The caller must therefore not modify the input while it uses
 *   the decoded value, and must `slice()` a string it wants to keep after reusing the buffer.
 * - Dict keys are "binary strings": one UTF-16 code unit per byte (latin1). Keys are bytes in
 *   bencode and BEP 52's `piece layers` has 32-byte binary keys, so decoding keys as UTF-8 would
 *   corrupt them. Comparing binary strings with `<` compares the underlying bytes, which is the
 *   order bencode requires. Use {@link keyFromText} / {@link keyToText} for human keys; plain ASCII
 *   keys such as `'info'` are the same in both forms.
 * - Hashes of sub-values (the info dict) must be taken over the exact input bytes, never a
 *   re-encoding: {@link bencodeDecodeWithSpans} reports where a top-level value sits in the input.
 */
import { LodestoneError } from '../errors.js'

/** A decoded bencode value. Byte strings are `Uint8Array`; integers are safe JS integers. */
export type BencodeValue = number | Uint8Array | BencodeValue[] | BencodeDict
/** A bencode dictionary; keys are binary strings (one char per byte, see the module header). */
export type BencodeDict = Map<string, BencodeValue>

/**
 * What {@link bencodeEncode} accepts: the decoded shapes plus JS strings (encoded as UTF-8) and plain
 * objects whose keys are text (encoded as UTF-8). `Map` keys are binary strings, as decoded.
 * Object properties whose value is `undefined` are omitted (like JSON); `undefined` anywhere else
 * is unencodable.
 */
export type BencodeEncodable =
  | number
  | string
  | Uint8Array
  | readonly BencodeEncodable[]
  | ReadonlyMap<string, BencodeEncodable>
  | { readonly [key: string]: BencodeEncodable | undefined }

/** Decoder limits: anything beyond them throws `BENCODE_LIMIT`. */
export interface BencodeLimits {
  /** Maximum nesting of lists and dicts (the top-level value is depth 1). @default 64 */
  maxDepth: number
  /** Maximum length of one byte string. @default 64 MiB */
  maxStringBytes: number
  /** Maximum length of the whole input. @default 64 MiB */
  maxTotalBytes: number
  /** Maximum number of values (integers, strings, lists, dicts and dict keys). @default 2_000_000 */
  maxItems: number
}

/** Options of {@link bencodeDecode}: the limits plus strictness switches. */
export interface BencodeDecodeOptions extends Partial<BencodeLimits> {
  /**
   * Require dict keys in strictly ascending byte order (BEP 3). Some real .torrent files have
   * unsorted keys at the top level; parse those with `false`. Duplicate keys are refused either way.
   * @default true
   */
  strictKeyOrder?: boolean
  /**
   * Accept bytes after the top-level value and leave them alone. Some .torrent files in the wild end
   * with a newline or a signature block after the dict; those bytes cannot change an info hash.
   * @default false
   */
  allowTrailingBytes?: boolean
}

/** The default decoder limits. 64 MiB is twice libtorrent's default metadata limit. */
export const defaultBencodeLimits: Readonly<BencodeLimits> = {
  maxDepth: 64,
  maxStringBytes: 64 * 1024 * 1024,
  maxTotalBytes: 64 * 1024 * 1024,
  maxItems: 2_000_000
}

/** Byte range `[start, end)` of a value in the decoder's input. */
export interface BencodeSpan {
  start: number
  end: number
}

/** Result of {@link bencodeDecodeWithSpans}. */
export interface BencodeDecodedWithSpans {
  value: BencodeValue
  /** Spans of the requested top-level dict keys that were present (binary-string keys). */
  spans: Map<string, BencodeSpan>
}

// Byte values of the bencode syntax.
const CH_D = 0x64 // d
const CH_E = 0x65 // e
const CH_I = 0x69 // i
const CH_L = 0x6c // l
const CH_COLON = 0x3a // :
const CH_MINUS = 0x2d // -
const CH_0 = 0x30
const CH_9 = 0x39

function invalid (offset: number, reason: string): LodestoneError<'BENCODE_INVALID'> {
  return new LodestoneError('BENCODE_INVALID', { offset, reason }, { message: `invalid bencode at byte ${offset}: ${reason}` })
}

function overLimit (offset: number, limit: string, value: number): LodestoneError<'BENCODE_LIMIT'> {
  return new LodestoneError('BENCODE_LIMIT', { offset, limit, value }, { message: `bencode limit ${limit} exceeded at byte ${offset} (${value})` })
}

/** Binary string (latin1) of `bytes`. Chunked so that long keys do not overflow the call stack. */
function bytesToBinaryString (bytes: Uint8Array, start: number, end: number): string {
  if (end - start <= 8192) return String.fromCharCode.apply(null, bytes.subarray(start, end) as unknown as number[])
  let out = ''
  for (let i = start; i < end; i += 8192) {
    out += String.fromCharCode.apply(null, bytes.subarray(i, Math.min(end, i + 8192)) as unknown as number[])
  }
  return out
}

class Decoder {
  pos = 0
  items = 0
  private readonly maxDepth: number
  private readonly maxStringBytes: number
  private readonly maxItems: number
  private readonly strictKeyOrder: boolean
  private readonly allowTrailingBytes: boolean

  constructor (private readonly bytes: Uint8Array, options: BencodeDecodeOptions) {
    this.maxDepth = options.maxDepth ?? defaultBencodeLimits.maxDepth
    this.maxStringBytes = options.maxStringBytes ?? defaultBencodeLimits.maxStringBytes
    this.maxItems = options.maxItems ?? defaultBencodeLimits.maxItems
    this.strictKeyOrder = options.strictKeyOrder ?? true
    this.allowTrailingBytes = options.allowTrailingBytes ?? false
  }

  /** The byte at `i`, or -1 past the end (bounds-checked read, no `!`). */
  private at (i: number): number {
    const b = this.bytes[i]
    return b === undefined ? -1 : b
  }

  value (depth: number): BencodeValue {
    const start = this.pos
    const c = this.at(start)
    if (++this.items > this.maxItems) throw overLimit(start, 'maxItems', this.items)
    if (c >= CH_0 && c <= CH_9) return this.string()
    if (c === CH_I) return this.integer()
    if (c === CH_L || c === CH_D) {
      if (depth + 1 > this.maxDepth) throw overLimit(start, 'maxDepth', depth + 1)
      return c === CH_L ? this.list(depth + 1) : this.dict(depth + 1, null)
    }
    if (c === -1) throw invalid(start, 'unexpected end of input')
    throw invalid(start, `unexpected byte 0x${c.toString(16).padStart(2, '0')}`)
  }

  /** Reads `<len>:<bytes>` and returns a view of the bytes. */
  string (): Uint8Array {
    const [s, e] = this.stringBounds()
    return this.bytes.subarray(s, e)
  }

  /** Reads `<len>:` and returns `[start, end)` of the payload, advancing past it. */
  stringBounds (): [number, number] {
    const start = this.pos
    let i = start
    let length = 0
    let c = this.at(i)
    if (c < CH_0 || c > CH_9) throw invalid(i, 'expected a string length')
    if (c === CH_0 && this.at(i + 1) !== CH_COLON) throw invalid(i, 'leading zero in string length')
    while (c >= CH_0 && c <= CH_9) {
      length = length * 10 + (c - CH_0)
      if (length > this.maxStringBytes) throw overLimit(start, 'maxStringBytes', length)
      c = this.at(++i)
    }
    if (c !== CH_COLON) throw c === -1 ? invalid(i, 'unexpected end of input in string length') : invalid(i, 'expected ":" after string length')
    const dataStart = i + 1
    const dataEnd = dataStart + length
    if (dataEnd > this.bytes.length) throw invalid(start, `string of ${length} bytes runs past the end of input`)
    this.pos = dataEnd
    return [dataStart, dataEnd]
  }

  integer (): number {
    const start = this.pos
    let i = start + 1
    let negative = false
    if (this.at(i) === CH_MINUS) {
      negative = true
      i++
    }
    const digitsStart = i
    let value = 0
    let c = this.at(i)
    while (c >= CH_0 && c <= CH_9) {
      const d = c - CH_0
      if (value > (Number.MAX_SAFE_INTEGER - d) / 10) throw overLimit(start, 'maxSafeInteger', Number.MAX_SAFE_INTEGER)
      value = value * 10 + d
      c = this.at(++i)
    }
    const digits = i - digitsStart
    if (c !== CH_E) throw c === -1 ? invalid(i, 'unexpected end of input in integer') : invalid(i, 'expected a digit or "e" in integer')
    if (digits === 0) throw invalid(start, 'integer without digits')
    if (digits > 1 && this.at(digitsStart) === CH_0) throw invalid(start, 'leading zero in integer')
    if (negative && value === 0) throw invalid(start, 'negative zero')
    this.pos = i + 1
    return negative ? -value : value
  }

  list (depth: number): BencodeValue[] {
    this.pos++ // 'l'
    const out: BencodeValue[] = []
    while (this.at(this.pos) !== CH_E) {
      if (this.pos >= this.bytes.length) throw invalid(this.pos, 'unexpected end of input in list')
      out.push(this.value(depth))
    }
    this.pos++ // 'e'
    return out
  }

  /**
   * Reads a dict. When `spanKeys` is given (top level only), records where each listed key's value
   * sits in the input.
   */
  dict (depth: number, spanKeys: { want: ReadonlySet<string>, spans: Map<string, BencodeSpan> } | null): BencodeDict {
    this.pos++ // 'd'
    const out: BencodeDict = new Map()
    let largest: string | null = null
    while (this.at(this.pos) !== CH_E) {
      const keyOffset = this.pos
      const c = this.at(keyOffset)
      if (c === -1) throw invalid(keyOffset, 'unexpected end of input in dict')
      if (c < CH_0 || c > CH_9) throw invalid(keyOffset, 'dict key is not a byte string')
      if (++this.items > this.maxItems) throw overLimit(keyOffset, 'maxItems', this.items)
      const [ks, ke] = this.stringBounds()
      const key = bytesToBinaryString(this.bytes, ks, ke)
      if (largest !== null && key <= largest) {
        // A key above every earlier key cannot repeat one; only the others need the lookup.
        if (key === largest || out.has(key)) throw invalid(keyOffset, 'duplicate dict key')
        if (this.strictKeyOrder) throw invalid(keyOffset, 'dict keys are not in ascending order')
      } else {
        largest = key
      }
      if (this.pos >= this.bytes.length || this.at(this.pos) === CH_E) throw invalid(this.pos, 'dict key without value')
      const valueStart = this.pos
      out.set(key, this.value(depth))
      if (spanKeys !== null && spanKeys.want.has(key)) spanKeys.spans.set(key, { start: valueStart, end: this.pos })
    }
    this.pos++ // 'e'
    return out
  }

  top (spanKeys: readonly string[] | null): BencodeDecodedWithSpans {
    const spans = new Map<string, BencodeSpan>()
    let value: BencodeValue
    if (spanKeys !== null && this.at(0) === CH_D) {
      if (++this.items > this.maxItems) throw overLimit(0, 'maxItems', this.items)
      if (this.maxDepth < 1) throw overLimit(0, 'maxDepth', 1)
      value = this.dict(1, { want: new Set(spanKeys), spans })
    } else {
      value = this.value(0)
    }
    if (this.pos !== this.bytes.length && !this.allowTrailingBytes) throw invalid(this.pos, 'trailing bytes after the value')
    return { value, spans }
  }
}

function checkTotal (bytes: Uint8Array, options: BencodeDecodeOptions): void {
  const maxTotal = options.maxTotalBytes ?? defaultBencodeLimits.maxTotalBytes
  if (bytes.length > maxTotal) throw overLimit(0, 'maxTotalBytes', bytes.length)
}

/**
 * Decodes one bencode value that must span all of `bytes`.
 *
 * Byte strings in the result are views into `bytes` (zero-copy): do not modify `bytes` while the
 * result is in use.
 * @throws LodestoneError `BENCODE_INVALID` (malformed, non-canonical, trailing bytes, unsorted or
 *   duplicate keys) or `BENCODE_LIMIT` (a limit exceeded, or an integer beyond 2^53-1), with `offset`.
 */
export function bencodeDecode (bytes: Uint8Array, options: BencodeDecodeOptions = {}): BencodeValue {
  checkTotal(bytes, options)
  return new Decoder(bytes, options).top(null).value
}

/**
 * Like {@link bencodeDecode}, and also returns the byte span `[start, end)` in `bytes` of the value
 * under each of `keys` in the top-level dict (binary-string keys), e.g. `['info']` so the info hash
 * is taken over the exact bytes the publisher hashed. Keys absent (or a non-dict top level) get no span.
 * @throws LodestoneError `BENCODE_INVALID` / `BENCODE_LIMIT`, as {@link bencodeDecode}.
 */
export function bencodeDecodeWithSpans (bytes: Uint8Array, options: BencodeDecodeOptions, keys: readonly string[]): BencodeDecodedWithSpans {
  checkTotal(bytes, options)
  return new Decoder(bytes, options).top(keys)
}

/**
 * Decodes the first bencode value at the start of `bytes` and returns it with the number of bytes it
 * used; bytes after it are left alone. For framed formats that append data after a bencoded header
 * (BEP 9 `data` messages carry the piece after the dict).
 * @throws LodestoneError `BENCODE_INVALID` / `BENCODE_LIMIT`, as {@link bencodeDecode}.
 */
export function bencodeDecodePrefix (bytes: Uint8Array, options: BencodeDecodeOptions = {}): { value: BencodeValue, lengthBytes: number } {
  // The value may not extend beyond maxTotalBytes; what follows it is not ours to bound.
  const maxTotal = options.maxTotalBytes ?? defaultBencodeLimits.maxTotalBytes
  const decoder = new Decoder(bytes.length > maxTotal ? bytes.subarray(0, maxTotal) : bytes, options)
  const value = decoder.value(0)
  return { value, lengthBytes: decoder.pos }
}

// ---------------------------------------------------------------------------------------------
// Keys and neutral getters

const textEncoder = new TextEncoder()
const textDecoder = new TextDecoder('utf-8')

/** The binary-string dict key for UTF-8 text (identity for ASCII). */
export function keyFromText (text: string): string {
  if (/^[\x00-\x7f]*$/.test(text)) return text
  const bytes = textEncoder.encode(text)
  return bytesToBinaryString(bytes, 0, bytes.length)
}

/** The bytes of a binary-string dict key. */
export function keyToBytes (key: string): Uint8Array {
  const out = new Uint8Array(key.length)
  for (let i = 0; i < key.length; i++) out[i] = key.charCodeAt(i) & 0xff
  return out
}

/** A binary-string dict key decoded as UTF-8 (invalid sequences become U+FFFD). */
export function keyToText (key: string): string {
  if (/^[\x00-\x7f]*$/.test(key)) return key
  return textDecoder.decode(keyToBytes(key))
}

/** True for a decoded dict. */
export function isBencodeDict (value: BencodeValue | undefined): value is BencodeDict {
  return value instanceof Map
}

/** True for a decoded list. */
export function isBencodeList (value: BencodeValue | undefined): value is BencodeValue[] {
  return Array.isArray(value)
}

/** True for a decoded byte string. */
export function isBencodeBytes (value: BencodeValue | undefined): value is Uint8Array {
  return value instanceof Uint8Array
}

/*
 * Neutral getters: they return `undefined` when the key is absent OR holds another type, and never
 * throw. Deciding whether that is an error (and which) belongs to the caller (e.g. the metainfo
 * parser's field readers). `key` is a binary-string key; ASCII text keys can be passed as is.
 */

/** The byte string under `key` (a view into the decoder input), or undefined. */
export function getBytes (dict: BencodeDict, key: string): Uint8Array | undefined {
  const v = dict.get(key)
  return v instanceof Uint8Array ? v : undefined
}

/** The integer under `key`, or undefined. */
export function getInt (dict: BencodeDict, key: string): number | undefined {
  const v = dict.get(key)
  return typeof v === 'number' ? v : undefined
}

/** The list under `key`, or undefined. */
export function getList (dict: BencodeDict, key: string): BencodeValue[] | undefined {
  const v = dict.get(key)
  return Array.isArray(v) ? v : undefined
}

/** The dict under `key`, or undefined. */
export function getDict (dict: BencodeDict, key: string): BencodeDict | undefined {
  const v = dict.get(key)
  return v instanceof Map ? v : undefined
}

/** The byte string under `key` decoded as UTF-8 (invalid sequences become U+FFFD), or undefined. */
export function getText (dict: BencodeDict, key: string): string | undefined {
  const v = dict.get(key)
  return v instanceof Uint8Array ? textDecoder.decode(v) : undefined
}

// ---------------------------------------------------------------------------------------------
// Encoder

/** Nesting beyond this is refused; it also turns a cyclic structure into a typed error. */
const MAX_ENCODE_DEPTH = 512

/** `path` holds list indices and raw (binary-string) dict keys; they become text only on error. */
function unencodable (path: ReadonlyArray<string | number>, reason: string): LodestoneError<'BENCODE_UNENCODABLE'> {
  const p = path.length === 0 ? '(root)' : path.map((k) => (typeof k === 'number' ? String(k) : keyToText(k))).join('.')
  return new LodestoneError('BENCODE_UNENCODABLE', { path: p, reason }, { message: `cannot bencode ${p}: ${reason}` })
}

/** UTF-8 length of a JS string without encoding it (lone surrogates count as U+FFFD, 3 bytes). */
function utf8Length (text: string): number {
  let n = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c < 0x80) n += 1
    else if (c < 0x800) n += 2
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1)
      if (next >= 0xdc00 && next <= 0xdfff) {
        n += 4
        i++
      } else {
        n += 3
      }
    } else n += 3
  }
  return n
}

function decimalLength (n: number): number {
  return String(n).length
}

type Entries = Array<[string, BencodeEncodable]>

function isPlainObject (value: unknown): value is { readonly [key: string]: BencodeEncodable | undefined } {
  if (typeof value !== 'object' || value === null) return false
  const proto = Object.getPrototypeOf(value) as unknown
  return proto === Object.prototype || proto === null
}

/**
 * Encodes in two passes over the value: the first validates, computes the exact size and collects
 * each dict's sorted entries (in visit order); the second writes into one buffer of that size.
 */
class Encoder {
  /** Sorted entries of each dict, in the order the size pass met them; the write pass replays them. */
  private readonly dicts: Entries[] = []
  private dictIndex = 0
  private readonly path: Array<string | number> = []
  private out = new Uint8Array(0)
  private pos = 0

  size (value: BencodeEncodable | undefined, depth: number): number {
    if (depth > MAX_ENCODE_DEPTH) throw unencodable(this.path, `nesting deeper than ${MAX_ENCODE_DEPTH} (cyclic?)`)
    if (typeof value === 'number') {
      if (!Number.isSafeInteger(value)) throw unencodable(this.path, `${value} is not a safe integer`)
      return decimalLength(value) + 2
    }
    if (typeof value === 'string') {
      const n = utf8Length(value)
      return decimalLength(n) + 1 + n
    }
    if (value instanceof Uint8Array) return decimalLength(value.length) + 1 + value.length
    if (Array.isArray(value)) {
      let n = 2
      const list = value as readonly BencodeEncodable[]
      for (let i = 0; i < list.length; i++) {
        this.path.push(i)
        n += this.size(list[i], depth + 1)
        this.path.pop()
      }
      return n
    }
    let entries: Entries
    if (value instanceof Map) {
      entries = []
      for (const [k, v] of value as ReadonlyMap<unknown, BencodeEncodable>) {
        if (typeof k !== 'string') throw unencodable(this.path, 'Map key is not a string')
        for (let i = 0; i < k.length; i++) {
          if (k.charCodeAt(i) > 0xff) throw unencodable(this.path, `Map key ${JSON.stringify(k)} is not a binary string (use keyFromText)`)
        }
        entries.push([k, v])
      }
    } else if (isPlainObject(value)) {
      entries = []
      for (const k of Object.keys(value)) {
        const v = value[k]
        if (v !== undefined) entries.push([keyFromText(k), v])
      }
    } else {
      const what = value === null ? 'null' : typeof value === 'object' ? 'a non-plain object' : typeof value
      throw unencodable(this.path, `${what} has no bencode form`)
    }
    entries.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    this.dicts.push(entries)
    let n = 2
    for (const [k, v] of entries) {
      n += decimalLength(k.length) + 1 + k.length
      this.path.push(k)
      n += this.size(v, depth + 1)
      this.path.pop()
    }
    return n
  }

  encode (value: BencodeEncodable): Uint8Array {
    this.out = new Uint8Array(this.size(value, 0))
    this.write(value)
    return this.out
  }

  private ascii (text: string): void {
    for (let i = 0; i < text.length; i++) this.out[this.pos++] = text.charCodeAt(i)
  }

  private write (value: BencodeEncodable): void {
    if (typeof value === 'number') {
      this.out[this.pos++] = CH_I
      this.ascii(String(value))
      this.out[this.pos++] = CH_E
    } else if (typeof value === 'string') {
      this.ascii(String(utf8Length(value)))
      this.out[this.pos++] = CH_COLON
      this.pos += textEncoder.encodeInto(value, this.out.subarray(this.pos)).written
    } else if (value instanceof Uint8Array) {
      this.ascii(String(value.length))
      this.out[this.pos++] = CH_COLON
      this.out.set(value, this.pos)
      this.pos += value.length
    } else if (Array.isArray(value)) {
      this.out[this.pos++] = CH_L
      for (const item of value as readonly BencodeEncodable[]) this.write(item)
      this.out[this.pos++] = CH_E
    } else {
      const entries = this.dicts[this.dictIndex++] ?? []
      this.out[this.pos++] = CH_D
      for (const [k, v] of entries) {
        this.ascii(String(k.length))
        this.out[this.pos++] = CH_COLON
        for (let i = 0; i < k.length; i++) this.out[this.pos++] = k.charCodeAt(i)
        this.write(v)
      }
      this.out[this.pos++] = CH_E
    }
  }
}

/**
 * Canonical bencoding of `value`: dict keys sorted by their raw bytes, integers without leading
 * zeros. Returns a new buffer the caller owns.
 * @throws LodestoneError `BENCODE_UNENCODABLE` (with the dotted path) for non-integers, unsafe
 *   integers, `undefined`/`null`/booleans/other objects, non-binary `Map` keys, or nesting deeper
 *   than 512 (which also catches cycles).
 */
export function bencodeEncode (value: BencodeEncodable): Uint8Array {
  return new Encoder().encode(value)
}
