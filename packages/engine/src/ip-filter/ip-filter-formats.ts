/**
 * Loaders for the two common block-list text formats:
 *
 * - eMule `ipfilter.dat`: `first - last , level , description`, e.g.
 *   `001.002.004.000 - 001.002.004.255 , 000 , Bogon`. A level <= 127 blocks the range; higher
 *   levels do not block (eMule filters below its threshold, 127 by default) and are skipped.
 * - PeerGuardian `.p2p` (text): `description:first-last`, e.g. `Bogon:1.2.4.0-1.2.4.255`. The
 *   description may itself contain colons, so the address part is after the last one.
 *
 * Both allow blank lines and `#` (and `//`) comments. Block lists are large (10^5–10^6 lines), so
 * lines are parsed into ranges first and merged into the filter in one sort, not rule by rule.
 *
 * Strict mode (the default) throws IP_FILTER_INVALID naming the first bad line; lenient mode skips
 * bad lines and counts them, for lists from the wild that carry a few broken entries.
 */
import { LodestoneError } from '../errors.js'
import { IpFilter, parseIpRange, type ParsedRange } from './ip-filter.js'

/** Block-list text formats. */
export type IpFilterFormat = 'emule-dat' | 'p2p'

export interface IpFilterLoadOptions {
  /** Skip bad lines (and count them) instead of throwing. @default false */
  lenient?: boolean
  /** Add to this filter instead of a new one. It is changed only when loading succeeds. */
  filter?: IpFilter
  /** In eMule lists, levels up to this block. @default 127 */
  blockLevelMax?: number
  /** Bad lines described in `errors` (lenient mode); the rest are only counted. @default 100 */
  maxReportedErrors?: number
}

/** One refused line. */
export interface IpFilterLineError {
  /** 1-based line number. */
  line: number
  reason: string
}

export interface IpFilterLoadResult {
  filter: IpFilter
  format: IpFilterFormat
  /** Lines that denied a range. */
  blockedRanges: number
  /** eMule lines whose level does not block. */
  allowedLines: number
  /** Bad lines skipped (lenient mode). */
  skippedLines: number
  /** The first `maxReportedErrors` bad lines. */
  errors: IpFilterLineError[]
}

/**
 * Parses an eMule `ipfilter.dat` list.
 * @throws LodestoneError IP_FILTER_INVALID `{ line, reason }` for the first bad line (strict mode).
 */
export function parseEmuleIpFilter (input: string | Uint8Array, options: IpFilterLoadOptions = {}): IpFilterLoadResult {
  const blockLevelMax = options.blockLevelMax ?? 127
  return load(input, 'emule-dat', options, (line) => {
    const fields = line.split(',')
    if (fields.length < 2) return 'expected "first - last , level , description"'
    const rangeText = fields[0]!.trim()
    if (!rangeText.includes('-')) return `expected "first - last", got "${clip(rangeText)}"`
    const levelText = fields[1]!.trim()
    if (!/^\d{1,5}$/.test(levelText)) return `level must be a number, got "${clip(levelText)}"`
    const range = tryRange(rangeText)
    if (typeof range === 'string') return range
    return Number(levelText) <= blockLevelMax ? range : 'allow'
  })
}

/**
 * Parses a PeerGuardian `.p2p` text list.
 * @throws LodestoneError IP_FILTER_INVALID `{ line, reason }` for the first bad line (strict mode).
 */
export function parseP2pIpFilter (input: string | Uint8Array, options: IpFilterLoadOptions = {}): IpFilterLoadResult {
  return load(input, 'p2p', options, (line) => {
    const colon = line.lastIndexOf(':')
    if (colon < 0) return 'expected "description:first-last"'
    const rangeText = line.slice(colon + 1).trim()
    if (!rangeText.includes('-')) return `expected "first-last", got "${clip(rangeText)}"`
    return tryRange(rangeText)
  })
}

/**
 * Parses a list in either format, chosen by its first non-comment line (an eMule line has a
 * comma; a `.p2p` line has a colon before its range).
 * @throws LodestoneError IP_FILTER_INVALID (strict mode), also when the format cannot be told.
 */
export function parseIpFilterList (input: string | Uint8Array, options: IpFilterLoadOptions = {}): IpFilterLoadResult {
  const text = typeof input === 'string' ? input : decodeLatin1(input)
  const format = detectIpFilterFormat(text)
  if (format === null) {
    const first = firstContentLine(text)
    if (first === null) return { filter: options.filter ?? new IpFilter(), format: 'emule-dat', blockedRanges: 0, allowedLines: 0, skippedLines: 0, errors: [] }
    throw new LodestoneError('IP_FILTER_INVALID', { line: first.line, reason: 'neither an eMule ipfilter.dat nor a PeerGuardian .p2p line' })
  }
  return format === 'p2p' ? parseP2pIpFilter(text, options) : parseEmuleIpFilter(text, options)
}

/** The format of a list by its first non-comment line, or null when there is none or it is neither. */
export function detectIpFilterFormat (text: string): IpFilterFormat | null {
  const first = firstContentLine(text)
  if (first === null) return null
  if (/^[0-9a-fA-F.:]+\s*-\s*[0-9a-fA-F.:]+\s*,/.test(first.text)) return 'emule-dat'
  if (/:[^:]*-[^:]*$/.test(first.text)) return 'p2p'
  return null
}

/** A range to deny, the string 'allow' (a line that blocks nothing), or an error reason. */
type LineVerdict = ParsedRange | string

function load (
  input: string | Uint8Array,
  format: IpFilterFormat,
  options: IpFilterLoadOptions,
  parseLine: (line: string) => LineVerdict
): IpFilterLoadResult {
  const text = typeof input === 'string' ? input : decodeLatin1(input)
  const lenient = options.lenient ?? false
  const maxReported = options.maxReportedErrors ?? 100
  const ranges: ParsedRange[] = []
  const errors: IpFilterLineError[] = []
  let allowedLines = 0
  let skippedLines = 0
  let lineNo = 0
  let start = 0
  while (start <= text.length) {
    let end = text.indexOf('\n', start)
    if (end < 0) end = text.length
    lineNo++
    const line = text.slice(start, end).trim()
    start = end + 1
    if (line === '' || line.startsWith('#') || line.startsWith('//')) continue
    const verdict = parseLine(line)
    if (verdict === 'allow') {
      allowedLines++
    } else if (typeof verdict === 'string') {
      if (!lenient) throw new LodestoneError('IP_FILTER_INVALID', { line: lineNo, reason: verdict }, { message: `ip filter line ${lineNo}: ${verdict}` })
      skippedLines++
      if (errors.length < maxReported) errors.push({ line: lineNo, reason: verdict })
    } else {
      ranges.push(verdict)
    }
  }
  const filter = options.filter ?? new IpFilter()
  filter.denyParsed(ranges)
  return { filter, format, blockedRanges: ranges.length, allowedLines, skippedLines, errors }
}

function tryRange (text: string): ParsedRange | string {
  try {
    return parseIpRange(text)
  } catch {
    return `not an address range: "${clip(text)}"`
  }
}

function firstContentLine (text: string): { line: number, text: string } | null {
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const t = lines[i]!.trim()
    if (t !== '' && !t.startsWith('#') && !t.startsWith('//')) return { line: i + 1, text: t }
  }
  return null
}

/** Block lists are ASCII addresses with descriptions in assorted 8-bit encodings: latin1 never fails. */
function decodeLatin1 (bytes: Uint8Array): string {
  let out = ''
  const CHUNK = 8192
  for (let i = 0; i < bytes.length; i += CHUNK) out += String.fromCharCode(...bytes.subarray(i, i + CHUNK))
  return out
}

function clip (text: string): string {
  return text.length > 60 ? `${text.slice(0, 57)}...` : text
}
