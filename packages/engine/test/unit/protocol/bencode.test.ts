import { describe, expect, it } from 'vitest'
import {
  bencodeDecode, bencodeDecodePrefix, bencodeDecodeWithSpans, bencodeEncode, getBytes, getDict, getInt, getList, getText,
  keyFromText, keyToBytes, keyToText, type BencodeDict, type BencodeValue
} from '../../../src/protocol/bencode.js'
import { hasCode, type ErrorCode } from '../../../src/errors.js'

const enc = (s: string): Uint8Array => new TextEncoder().encode(s)
const txt = (b: Uint8Array): string => new TextDecoder().decode(b)

function codeOf (fn: () => unknown): { code: ErrorCode, details: unknown } {
  try {
    fn()
  } catch (err) {
    if (hasCode(err, 'BENCODE_INVALID') || hasCode(err, 'BENCODE_LIMIT') || hasCode(err, 'BENCODE_UNENCODABLE')) {
      return { code: err.code, details: err.details }
    }
    throw err
  }
  throw new Error('did not throw')
}

describe('bencodeDecode', () => {
  it('decodes integers, strings, lists and dicts', () => {
    expect(bencodeDecode(enc('i42e'))).toBe(42)
    expect(bencodeDecode(enc('i-7e'))).toBe(-7)
    expect(bencodeDecode(enc('i0e'))).toBe(0)
    expect(txt(bencodeDecode(enc('4:spam')) as Uint8Array)).toBe('spam')
    expect((bencodeDecode(enc('0:')) as Uint8Array).length).toBe(0)
    const list = bencodeDecode(enc('li1ei2e3:abce')) as BencodeValue[]
    expect(list.length).toBe(3)
    expect(list[0]).toBe(1)
    const dict = bencodeDecode(enc('d3:bar4:spam3:fooi42ee')) as BencodeDict
    expect([...dict.keys()]).toEqual(['bar', 'foo'])
    expect(getInt(dict, 'foo')).toBe(42)
    expect(getText(dict, 'bar')).toBe('spam')
  })

  it('returns strings as zero-copy views of the input', () => {
    const input = enc('4:spam')
    const s = bencodeDecode(input) as Uint8Array
    expect(s.buffer).toBe(input.buffer)
    expect(s.byteOffset).toBe(2)
  })

  it('accepts integers up to 2^53-1 and refuses larger ones with BENCODE_LIMIT', () => {
    expect(bencodeDecode(enc(`i${Number.MAX_SAFE_INTEGER}e`))).toBe(Number.MAX_SAFE_INTEGER)
    expect(bencodeDecode(enc(`i-${Number.MAX_SAFE_INTEGER}e`))).toBe(-Number.MAX_SAFE_INTEGER)
    expect(codeOf(() => bencodeDecode(enc('i9007199254740992e'))).code).toBe('BENCODE_LIMIT')
    expect(codeOf(() => bencodeDecode(enc('i1152921504606846976e'))).code).toBe('BENCODE_LIMIT')
  })

  it.each([
    ['i-0e', 0, 'negative zero'],
    ['i03e', 0, 'leading zero'],
    ['ie', 0, 'without digits'],
    ['i-e', 0, 'without digits'],
    ['i1', 2, 'end of input'],
    ['i1x', 2, 'expected a digit'],
    ['03:abc', 0, 'leading zero'],
    ['5:abc', 0, 'past the end'],
    ['3abc', 1, 'expected ":"'],
    ['i1ei2e', 3, 'trailing'],
    ['l', 1, 'end of input'],
    ['li1e', 4, 'end of input'],
    ['d', 1, 'end of input'],
    ['d3:fooe', 6, 'without value'],
    ['di1ei2ee', 1, 'not a byte string'],
    ['d1:bi1e1:ai2ee', 7, 'ascending'],
    ['d1:ai1e1:ai2ee', 7, 'duplicate'],
    ['x', 0, 'unexpected byte'],
    ['', 0, 'end of input'],
    ['-1:', 0, 'unexpected byte']
  ])('refuses %j with BENCODE_INVALID at byte %i', (input, offset, reason) => {
    const { code, details } = codeOf(() => bencodeDecode(enc(input)))
    expect(code).toBe('BENCODE_INVALID')
    expect(details).toMatchObject({ offset })
    expect((details as { reason: string }).reason).toContain(reason)
  })

  it('allows unsorted keys with strictKeyOrder: false, never duplicates', () => {
    const dict = bencodeDecode(enc('d1:bi1e1:ai2ee'), { strictKeyOrder: false }) as BencodeDict
    expect(getInt(dict, 'a')).toBe(2)
    expect(codeOf(() => bencodeDecode(enc('d1:ai1e1:bi1e1:ai2ee'), { strictKeyOrder: false })).code).toBe('BENCODE_INVALID')
    expect(codeOf(() => bencodeDecode(enc('d1:ci1e1:ai1e1:ci2ee'), { strictKeyOrder: false })).code).toBe('BENCODE_INVALID')
    expect(codeOf(() => bencodeDecode(enc('d1:bi1e1:ai1e1:ci1e1:ai2ee'), { strictKeyOrder: false })).code).toBe('BENCODE_INVALID')
  })

  it('compares keys by raw bytes', () => {
    // 0x7f < 0x80 < 0xff as bytes.
    const input = new Uint8Array([...enc('d1:'), 0x7f, ...enc('i1e1:'), 0x80, ...enc('i2e1:'), 0xff, ...enc('i3ee')])
    const dict = bencodeDecode(input) as BencodeDict
    expect([...dict.keys()].map((k) => k.charCodeAt(0))).toEqual([0x7f, 0x80, 0xff])
    expect(bencodeEncode(dict)).toEqual(input)
  })

  it('enforces maxDepth, maxStringBytes, maxTotalBytes and maxItems', () => {
    expect(bencodeDecode(enc('l'.repeat(64) + 'e'.repeat(64)))).toBeDefined()
    expect(codeOf(() => bencodeDecode(enc('l'.repeat(65) + 'e'.repeat(65)))).details).toMatchObject({ limit: 'maxDepth', offset: 64 })
    expect(codeOf(() => bencodeDecode(enc('l'.repeat(100_000)))).code).toBe('BENCODE_LIMIT')
    expect(codeOf(() => bencodeDecode(enc('d1:a'.repeat(100_000)))).code).toBe('BENCODE_LIMIT')
    expect(codeOf(() => bencodeDecode(enc('d'.repeat(100_000)))).code).toBe('BENCODE_INVALID')
    expect(codeOf(() => bencodeDecode(enc('ll1:ae'), { maxDepth: 1 })).details).toMatchObject({ limit: 'maxDepth' })
    expect(codeOf(() => bencodeDecode(enc('5:abcde'), { maxStringBytes: 4 })).details).toMatchObject({ limit: 'maxStringBytes' })
    expect(codeOf(() => bencodeDecode(enc('99999999999999999999:'))).details).toMatchObject({ limit: 'maxStringBytes' })
    expect(codeOf(() => bencodeDecode(enc('5:abcde'), { maxTotalBytes: 6 })).details).toMatchObject({ limit: 'maxTotalBytes' })
    expect(codeOf(() => bencodeDecode(enc('li1ei2ei3ee'), { maxItems: 3 })).details).toMatchObject({ limit: 'maxItems' })
    expect(bencodeDecode(enc('li1ei2ei3ee'), { maxItems: 4 })).toEqual([1, 2, 3])
  })
})

describe('bencodeDecodeWithSpans', () => {
  it('reports the exact byte range of top-level values', () => {
    const input = enc('d8:announce3:url4:infod4:name1:xe5:otheri1ee')
    const { value, spans } = bencodeDecodeWithSpans(input, {}, ['info', 'missing'])
    expect(value).toBeInstanceOf(Map)
    const span = spans.get('info')!
    expect(txt(input.subarray(span.start, span.end))).toBe('d4:name1:xe')
    expect(spans.has('missing')).toBe(false)
  })

  it('keeps the raw bytes even when the sub-dict is not canonical', () => {
    const input = enc('d4:infod1:bi1e1:ai2eee')
    const { spans } = bencodeDecodeWithSpans(input, { strictKeyOrder: false }, ['info'])
    const span = spans.get('info')!
    expect(txt(input.subarray(span.start, span.end))).toBe('d1:bi1e1:ai2ee')
  })

  it('returns no spans for a non-dict top level and still validates', () => {
    expect(bencodeDecodeWithSpans(enc('li1ee'), {}, ['info']).spans.size).toBe(0)
    expect(codeOf(() => bencodeDecodeWithSpans(enc('d4:infoi1ee1'), {}, ['info'])).code).toBe('BENCODE_INVALID')
    expect(codeOf(() => bencodeDecodeWithSpans(enc('d4:infoi1ee'), { maxDepth: 0 }, ['info'])).code).toBe('BENCODE_LIMIT')
  })
})

describe('bencodeDecodePrefix', () => {
  it('decodes a leading value and reports its length', () => {
    const input = enc('d8:msg_typei1e5:piecei0eeRAWDATA')
    const { value, lengthBytes } = bencodeDecodePrefix(input)
    expect(getInt(value as BencodeDict, 'msg_type')).toBe(1)
    expect(txt(input.subarray(lengthBytes))).toBe('RAWDATA')
  })
})

describe('bencodeEncode', () => {
  it('encodes canonically from Maps and plain objects', () => {
    expect(txt(bencodeEncode({ foo: 42, bar: 'spam', list: [1, 'a', enc('b')] }))).toBe('d3:bar4:spam3:fooi42e4:listli1e1:a1:bee')
    expect(txt(bencodeEncode(new Map([['z', 1], ['a', 2]])))).toBe('d1:ai2e1:zi1ee')
    expect(txt(bencodeEncode(-12))).toBe('i-12e')
    expect(txt(bencodeEncode(0))).toBe('i0e')
    expect(txt(bencodeEncode(''))).toBe('0:')
    expect(txt(bencodeEncode([]))).toBe('le')
    expect(txt(bencodeEncode({}))).toBe('de')
  })

  it('encodes text as UTF-8 and sorts object keys by their UTF-8 bytes', () => {
    const out = bencodeEncode({ é: 1, z: 2, '😀': 'ü' })
    expect(txt(out)).toBe('d1:zi2e2:éi1e4:😀2:üe')
    expect(bencodeDecode(out)).toBeInstanceOf(Map)
  })

  it('omits undefined object properties', () => {
    expect(txt(bencodeEncode({ a: 1, b: undefined }))).toBe('d1:ai1ee')
  })

  it.each([
    [1.5, '(root)'],
    [Number.NaN, '(root)'],
    [2 ** 53, '(root)'],
    [{ a: [1, 0.1] }, 'a.1'],
    [[undefined], '0'],
    [{ a: null }, 'a'],
    [{ a: true }, 'a'],
    [new Map([['\u0100', 1]]), '(root)'],
    [{ d: new Date(0) }, 'd']
  ])('refuses %j with BENCODE_UNENCODABLE at %s', (value, path) => {
    const { code, details } = codeOf(() => bencodeEncode(value as never))
    expect(code).toBe('BENCODE_UNENCODABLE')
    expect(details).toMatchObject({ path })
  })

  it('turns a cycle into BENCODE_UNENCODABLE', () => {
    const a: unknown[] = []
    a.push(a)
    expect(codeOf(() => bencodeEncode(a as never)).code).toBe('BENCODE_UNENCODABLE')
  })
})

describe('keys and getters', () => {
  it('round-trips binary keys', () => {
    const raw = new Uint8Array([0, 1, 0x80, 0xff, 0x41])
    const key = String.fromCharCode(...raw)
    const encoded = bencodeEncode(new Map([[key, 1]]))
    const dict = bencodeDecode(encoded) as BencodeDict
    expect(keyToBytes([...dict.keys()][0]!)).toEqual(raw)
  })

  it('converts text keys', () => {
    expect(keyFromText('name')).toBe('name')
    expect(keyToText(keyFromText('näme 😀'))).toBe('näme 😀')
    expect(keyFromText('é')).toBe('\u00c3\u00a9')
    expect(keyToBytes(keyFromText('é'))).toEqual(enc('é'))
  })

  it('getters return undefined for absent or mistyped fields', () => {
    const dict = bencodeDecode(enc('d1:ai1e1:bli1ee1:cde1:d1:xe')) as BencodeDict
    expect(getInt(dict, 'a')).toBe(1)
    expect(getList(dict, 'b')).toEqual([1])
    expect(getDict(dict, 'c')).toBeInstanceOf(Map)
    expect(txt(getBytes(dict, 'd')!)).toBe('x')
    expect(getInt(dict, 'd')).toBeUndefined()
    expect(getBytes(dict, 'a')).toBeUndefined()
    expect(getList(dict, 'c')).toBeUndefined()
    expect(getDict(dict, 'b')).toBeUndefined()
    expect(getText(dict, 'zz')).toBeUndefined()
  })
})
