/**
 * An IP filter (libtorrent's `ip_filter`, seed 003): rules that allow or deny single addresses,
 * ranges and CIDR blocks, IPv4 and IPv6. The engine applies it to every peer, whatever its source
 * (trackers, `addPeer`, PEX, incoming): a denied address is never dialled and an incoming
 * connection from one is closed before the handshake.
 *
 * Representation: per family, a sorted array of disjoint, non-adjacent *denied* ranges. Every
 * address not in one is allowed (the default, as in libtorrent), so an `allow` rule only cuts
 * holes into denied ranges and the table never holds allow ranges. A lookup is one binary search,
 * O(log n) for lists of hundreds of thousands of ranges (the common public block lists).
 * IPv4 addresses are numbers; IPv6 ones are bigints (128 bits do not fit in a double).
 *
 * Rules apply in order: a later rule overrides earlier ones where they overlap. IPv4-mapped IPv6
 * addresses (`::ffff:1.2.3.4`, what a dual-stack socket reports) are looked up as IPv4.
 *
 * Addresses are parsed here rather than with a platform API (the core is platform-agnostic).
 * IPv4 parts may carry leading zeros, read as decimal: block lists write `001.002.003.004`.
 */
import { LodestoneError } from '../errors.js'
import { parseIpv6Groups } from '../util/ipv6-groups.js'

/** What a rule does to the addresses it covers. */
export type IpFilterAccess = 'allow' | 'deny'

/** An inclusive address range, as text (canonical form when it comes out of the filter). */
export interface IpRange {
  first: string
  last: string
}

/** A rule for {@link IpFilter.addRules}: an address, `first-last` range, or CIDR block, and its access. */
export interface IpFilterRule {
  /** `1.2.3.4`, `1.2.3.0/24`, `1.2.3.4-1.2.3.9`, `2001:db8::/32`, `::1`, `[::1]`. */
  range: string
  access: IpFilterAccess
}

/** A parsed address: family and value (a number below 2^32 for IPv4, a bigint below 2^128 for IPv6). */
export type ParsedIp = { family: 4, value: number } | { family: 6, value: bigint }

const V6_MAX = (1n << 128n) - 1n

/** Sorted disjoint denied ranges of one family; `T` is number (IPv4) or bigint (IPv6). */
class RangeTable<T extends number | bigint> {
  starts: T[] = []
  ends: T[] = []

  constructor (private readonly one: T) {}

  get size (): number { return this.starts.length }

  /** True when `x` lies in a denied range. */
  contains (x: T): boolean {
    const i = this.lastStartAtOrBelow(x)
    return i >= 0 && x <= this.ends[i]!
  }

  /** Index of the last range whose start is <= x, or -1. */
  lastStartAtOrBelow (x: T): number {
    let lo = 0
    let hi = this.starts.length - 1
    let found = -1
    while (lo <= hi) {
      const mid = (lo + hi) >> 1
      if (this.starts[mid]! <= x) {
        found = mid
        lo = mid + 1
      } else {
        hi = mid - 1
      }
    }
    return found
  }

  /** Denies [first, last]: merges with every range it overlaps or touches. */
  deny (first: T, last: T): void {
    const one = this.one
    // Ranges touching [first - 1, last + 1] merge with the new one.
    let i = this.lastStartAtOrBelow(first)
    if (i < 0 || add(this.ends[i]!, one) < first) i++
    let j = i
    let newFirst = first
    let newLast = last
    while (j < this.starts.length && this.starts[j]! <= add(last, one)) {
      if (this.starts[j]! < newFirst) newFirst = this.starts[j]!
      if (this.ends[j]! > newLast) newLast = this.ends[j]!
      j++
    }
    this.starts.splice(i, j - i, newFirst)
    this.ends.splice(i, j - i, newLast)
  }

  /** Allows [first, last]: cuts it out of every denied range. */
  allow (first: T, last: T): void {
    let i = this.lastStartAtOrBelow(first)
    if (i < 0 || this.ends[i]! < first) i++
    let j = i
    const keepStarts: T[] = []
    const keepEnds: T[] = []
    while (j < this.starts.length && this.starts[j]! <= last) {
      const s = this.starts[j]!
      const e = this.ends[j]!
      if (s < first) { keepStarts.push(s); keepEnds.push(sub(first, this.one)) }
      if (e > last) { keepStarts.push(add(last, this.one)); keepEnds.push(e) }
      j++
    }
    this.starts.splice(i, j - i, ...keepStarts)
    this.ends.splice(i, j - i, ...keepEnds)
  }

  /** Replaces the table with the union of itself and `ranges` in O(n log n) (bulk loading). */
  denyMany (ranges: Array<[T, T]>): void {
    const all: Array<[T, T]> = ranges.slice()
    for (let k = 0; k < this.starts.length; k++) all.push([this.starts[k]!, this.ends[k]!])
    const starts: T[] = []
    const ends: T[] = []
    const order = sortedOrder(all)
    for (let n = 0; n < order.length; n++) {
      const k = order[n]!
      const [s, e] = all[k]!
      const last = ends.length - 1
      if (last >= 0 && s <= add(ends[last]!, this.one)) {
        if (e > ends[last]!) ends[last] = e
      } else {
        starts.push(s)
        ends.push(e)
      }
    }
    this.starts = starts
    this.ends = ends
  }

  clone (): RangeTable<T> {
    const t = new RangeTable<T>(this.one)
    t.starts = this.starts.slice()
    t.ends = this.ends.slice()
    return t
  }
}

/**
 * Indexes of `ranges` by start. For IPv4 (starts below 2^32) and up to 2^21 ranges, start and
 * index pack exactly into one double, so a native typed-array sort does the work (≈ 10× faster
 * than a comparator sort over tuples).
 */
function sortedOrder<T extends number | bigint> (ranges: ReadonlyArray<[T, T]>): ArrayLike<number> {
  const n = ranges.length
  if (n > 0 && n <= 1 << 21 && typeof ranges[0]![0] === 'number') {
    const keys = new Float64Array(n)
    for (let i = 0; i < n; i++) keys[i] = (ranges[i]![0] as number) * 2_097_152 + i
    keys.sort()
    const order = new Uint32Array(n)
    for (let i = 0; i < n; i++) order[i] = keys[i]! % 2_097_152
    return order
  }
  const order = Array.from({ length: n }, (_, i) => i)
  order.sort((a, b) => {
    const x = ranges[a]![0]
    const y = ranges[b]![0]
    return x < y ? -1 : x > y ? 1 : 0
  })
  return order
}

function add<T extends number | bigint> (a: T, b: T): T {
  return ((a as number) + (b as number)) as T
}

function sub<T extends number | bigint> (a: T, b: T): T {
  return ((a as number) - (b as number)) as T
}

/**
 * Allow/deny rules over IPv4 and IPv6 addresses. Everything is allowed until a rule denies it.
 *
 * ```ts
 * const filter = new IpFilter()
 * filter.addRule('10.0.0.0/8', 'deny')
 * filter.addRule('10.1.2.3', 'allow')
 * filter.isAllowed('10.9.9.9')   // false
 * filter.isAllowed('10.1.2.3')   // true
 * ```
 */
export class IpFilter {
  private v4 = new RangeTable<number>(1)
  private v6 = new RangeTable<bigint>(1n)

  /**
   * Adds a rule; it overrides earlier rules where they overlap.
   * @param range an address, `first-last` (spaces allowed around `-`), or CIDR `addr/bits`.
   * @throws LodestoneError ADDRESS_INVALID when `range` is not one of those (or mixes families,
   *   or has first > last).
   */
  addRule (range: string, access: IpFilterAccess): this {
    const parsed = parseIpRange(range)
    this.apply(parsed, access)
    return this
  }

  /**
   * Adds many rules in order. Runs of denied ranges are merged in one sort (O(n log n)), so a
   * block list of 10^5–10^6 ranges loads in well under a second.
   * @throws LodestoneError ADDRESS_INVALID for the first bad rule (the filter is then unchanged).
   */
  addRules (rules: Iterable<IpFilterRule>): this {
    const parsed: Array<{ range: ParsedRange, access: IpFilterAccess }> = []
    for (const rule of rules) parsed.push({ range: parseIpRange(rule.range), access: rule.access })
    this.applyMany(parsed)
    return this
  }

  /**
   * Denies ranges already parsed (the format loaders' output), merged in one sort.
   * @internal used by ip-filter-formats
   */
  denyParsed (ranges: readonly ParsedRange[]): void {
    this.applyMany(ranges.map((range) => ({ range, access: 'deny' as const })))
  }

  /** 'deny' when a rule denies `address`, else 'allow'. Host names (not IP literals) are allowed. */
  access (address: string): IpFilterAccess {
    return this.isAllowed(address) ? 'allow' : 'deny'
  }

  /**
   * False when a rule denies `address` (an IP literal, IPv6 with or without brackets). Names
   * that are not IP literals cannot be judged and are allowed: the connection that resolves them
   * is checked again by its numeric address.
   */
  isAllowed (address: string): boolean {
    const ip = parseIpAddress(address)
    if (ip === null) return true
    if (ip.family === 4) return !this.v4.contains(ip.value)
    if ((ip.value >> 32n) === 0xffffn) return !this.v4.contains(Number(ip.value & 0xffff_ffffn))
    return !this.v6.contains(ip.value)
  }

  /** Number of disjoint denied ranges (IPv4 + IPv6). */
  get size (): number { return this.v4.size + this.v6.size }

  /** True when nothing is denied. */
  get isEmpty (): boolean { return this.size === 0 }

  /** The denied ranges, IPv4 first, each family in address order (canonical text). */
  deniedRanges (): IpRange[] {
    const out: IpRange[] = []
    for (let i = 0; i < this.v4.size; i++) {
      out.push({ first: formatIpv4Number(this.v4.starts[i]!), last: formatIpv4Number(this.v4.ends[i]!) })
    }
    for (let i = 0; i < this.v6.size; i++) {
      out.push({ first: formatIpv6BigInt(this.v6.starts[i]!), last: formatIpv6BigInt(this.v6.ends[i]!) })
    }
    return out
  }

  /** An independent copy. */
  clone (): IpFilter {
    const copy = new IpFilter()
    copy.v4 = this.v4.clone()
    copy.v6 = this.v6.clone()
    return copy
  }

  private apply (parsed: ParsedRange, access: IpFilterAccess): void {
    for (const range of splitMapped(parsed)) this.applyOne(range, access)
  }

  private applyOne (range: ParsedRange, access: IpFilterAccess): void {
    if (range.family === 4) {
      if (access === 'deny') this.v4.deny(range.first, range.last)
      else this.v4.allow(range.first, range.last)
    } else {
      if (access === 'deny') this.v6.deny(range.first, range.last)
      else this.v6.allow(range.first, range.last)
    }
  }

  private applyMany (rules: ReadonlyArray<{ range: ParsedRange, access: IpFilterAccess }>): void {
    // Order matters only between an allow and what precedes it, so consecutive denies are
    // batched and an allow flushes the batch first.
    let v4: Array<[number, number]> = []
    let v6: Array<[bigint, bigint]> = []
    const flush = (): void => {
      if (v4.length > 0) this.v4.denyMany(v4)
      if (v6.length > 0) this.v6.denyMany(v6)
      v4 = []
      v6 = []
    }
    for (const rule of rules) {
      if (rule.access === 'allow') {
        flush()
        this.apply(rule.range, rule.access)
        continue
      }
      for (const range of splitMapped(rule.range)) {
        if (range.family === 4) v4.push([range.first, range.last])
        else v6.push([range.first, range.last])
      }
    }
    flush()
  }
}

const MAPPED_FIRST = 0xffffn << 32n
const MAPPED_LAST = MAPPED_FIRST | 0xffff_ffffn

/**
 * IPv4-mapped IPv6 addresses are looked up in the IPv4 table, so the part of an IPv6 range that
 * falls in `::ffff:0:0/96` is stored there as IPv4.
 */
function splitMapped (range: ParsedRange): ParsedRange[] {
  if (range.family === 4 || range.last < MAPPED_FIRST || range.first > MAPPED_LAST) return [range]
  const out: ParsedRange[] = []
  if (range.first < MAPPED_FIRST) out.push({ family: 6, first: range.first, last: MAPPED_FIRST - 1n })
  const lo = range.first > MAPPED_FIRST ? range.first : MAPPED_FIRST
  const hi = range.last < MAPPED_LAST ? range.last : MAPPED_LAST
  out.push({ family: 4, first: Number(lo - MAPPED_FIRST), last: Number(hi - MAPPED_FIRST) })
  if (range.last > MAPPED_LAST) out.push({ family: 6, first: MAPPED_LAST + 1n, last: range.last })
  return out
}

/** A parsed inclusive range of one family. */
export type ParsedRange = { family: 4, first: number, last: number } | { family: 6, first: bigint, last: bigint }

/**
 * Parses an address, `first-last` range or CIDR block.
 * @throws LodestoneError ADDRESS_INVALID
 */
export function parseIpRange (text: string): ParsedRange {
  const t = text.trim()
  const slash = t.indexOf('/')
  if (slash >= 0) {
    const ip = parseIpAddress(t.slice(0, slash).trim())
    const bitsText = t.slice(slash + 1).trim()
    if (ip === null || !/^\d{1,3}$/.test(bitsText)) throw invalidAddress(text)
    const bits = Number(bitsText)
    if (ip.family === 4) {
      if (bits > 32) throw invalidAddress(text)
      const hostBits = 32 - bits
      const size = 2 ** hostBits
      const first = Math.floor(ip.value / size) * size
      return { family: 4, first, last: first + size - 1 }
    }
    if (bits > 128) throw invalidAddress(text)
    const hostMask = (1n << BigInt(128 - bits)) - 1n
    const first = ip.value & ~hostMask & V6_MAX
    return { family: 6, first, last: first | hostMask }
  }
  // A dash separates a range; IPv6 text has no dash, so the first one is the separator.
  const dash = t.indexOf('-')
  const firstIp = parseIpAddress(dash >= 0 ? t.slice(0, dash).trim() : t)
  const lastIp = dash >= 0 ? parseIpAddress(t.slice(dash + 1).trim()) : firstIp
  if (firstIp === null || lastIp === null || firstIp.family !== lastIp.family) throw invalidAddress(text)
  if (firstIp.value > lastIp.value) throw invalidAddress(text)
  return firstIp.family === 4
    ? { family: 4, first: firstIp.value, last: lastIp.value as number }
    : { family: 6, first: firstIp.value, last: lastIp.value as bigint }
}

/**
 * Parses an IP literal: IPv4 dotted quad (leading zeros allowed, decimal) or IPv6 (`::`
 * compression, a trailing dotted quad, optional brackets; no zone id). Null for anything else.
 */
export function parseIpAddress (text: string): ParsedIp | null {
  const v4 = parseIpv4Number(text)
  if (v4 !== null) return { family: 4, value: v4 }
  let t = text
  if (t.startsWith('[') && t.endsWith(']')) t = t.slice(1, -1)
  const v6 = parseIpv6BigInt(t)
  return v6 === null ? null : { family: 6, value: v6 }
}

/** Hand-rolled (no split, no regex): block lists parse 10^5–10^6 of these. */
function parseIpv4Number (text: string): number | null {
  let value = 0
  let part = 0
  let digits = 0
  let dots = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c >= 48 && c <= 57) {
      if (digits === 3) return null
      part = part * 10 + c - 48
      digits++
    } else if (c === 46) {
      if (digits === 0 || part > 255 || dots === 3) return null
      value = value * 256 + part
      part = 0
      digits = 0
      dots++
    } else {
      return null
    }
  }
  if (digits === 0 || part > 255 || dots !== 3) return null
  return value * 256 + part
}

function parseIpv6BigInt (text: string): bigint | null {
  const groups = parseIpv6Groups(text, parseIpv4Number)
  if (groups === null) return null
  let value = 0n
  for (const g of groups) value = (value << 16n) | BigInt(g)
  return value
}

/** Dotted quad of a 32-bit value. */
export function formatIpv4Number (value: number): string {
  return `${Math.floor(value / 0x100_0000) & 255}.${(value >>> 16) & 255}.${(value >>> 8) & 255}.${value & 255}`
}

/** RFC 5952 text of a 128-bit value (IPv4-mapped ones as `::ffff:a.b.c.d`). */
export function formatIpv6BigInt (value: bigint): string {
  const groups: number[] = []
  for (let i = 7; i >= 0; i--) groups.push(Number((value >> BigInt(16 * i)) & 0xffffn))
  if ((value >> 32n) === 0xffffn) return `::ffff:${formatIpv4Number(Number(value & 0xffff_ffffn))}`
  let bestStart = -1
  let bestLength = 0
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) { i++; continue }
    let j = i
    while (j < 8 && groups[j] === 0) j++
    if (j - i > bestLength && j - i >= 2) { bestStart = i; bestLength = j - i }
    i = j
  }
  const hex = groups.map((g) => g.toString(16))
  if (bestStart < 0) return hex.join(':')
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`
}

function invalidAddress (text: string): LodestoneError<'ADDRESS_INVALID'> {
  return new LodestoneError('ADDRESS_INVALID', { address: text }, { message: `not an address, range or CIDR block: ${text}` })
}
