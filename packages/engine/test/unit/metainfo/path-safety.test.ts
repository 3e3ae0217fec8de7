import { describe, expect, it } from 'vitest'
import { assertNoPathConflicts, assertSafePath, isSafePath, unsafeComponentReason } from '../../../src/metainfo/path-safety.js'

describe('path safety', () => {
  it('accepts ordinary names, including dots, spaces, unicode and colons after the first char', () => {
    for (const c of ['a', '.hidden', '..x', 'x..', 'my file.txt', 'ü日本', 'ab:c', '...', ' lead', '-']) expect(unsafeComponentReason(c)).toBeNull()
    expect(isSafePath(['a', 'b', 'c.txt'])).toBe(true)
  })

  it.each([
    ['', 'empty'], ['.', '"."'], ['..', '".."'], ['a/b', 'separator'], ['/', 'separator'], ['a\\b', 'separator'],
    ['a\u0000', 'NUL'], ['\t', 'control'], ['a\u001fb', 'control'], ['\u007f', 'control'], ['C:', 'drive'], ['c:x', 'drive']
  ])('refuses %j (%s)', (component, why) => {
    expect(unsafeComponentReason(component)).toContain(why)
    expect(isSafePath(['ok', component])).toBe(false)
    expect(() => assertSafePath(['ok', component])).toThrow(expect.objectContaining({ code: 'METAINFO_UNSAFE_PATH' }))
  })

  it('refuses an empty path and escapes control characters in the reported path', () => {
    expect(() => assertSafePath([])).toThrow(expect.objectContaining({ code: 'METAINFO_UNSAFE_PATH' }))
    try {
      assertSafePath(['a', 'b\nc'])
    } catch (err) {
      expect((err as { details: { path: string } }).details.path).toBe('a/b\\nc')
    }
    expect.assertions(2)
  })

  it('detects conflicts', () => {
    expect(() => assertNoPathConflicts([['a', 'b'], ['a', 'c'], ['b']])).not.toThrow()
    expect(() => assertNoPathConflicts([['a'], ['a']])).toThrow(expect.objectContaining({ code: 'METAINFO_UNSAFE_PATH' }))
    expect(() => assertNoPathConflicts([['a', 'b', 'c'], ['a', 'b']])).toThrow(expect.objectContaining({ code: 'METAINFO_UNSAFE_PATH' }))
    expect(() => assertNoPathConflicts([['a', 'b'], ['a', 'b', 'c']])).toThrow(expect.objectContaining({ code: 'METAINFO_UNSAFE_PATH' }))
    // Joining must not confuse ['a b'] with ['a', 'b'].
    expect(() => assertNoPathConflicts([['a b'], ['a', 'b']])).not.toThrow()
  })
})
