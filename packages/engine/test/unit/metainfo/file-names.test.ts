import { describe, expect, it } from 'vitest'
import { cleanPath, isPadFileName, shortenName } from '../../../src/metainfo/file-names.js'
import { normalizeWebSeedUrl, normalizeWebSeedUrls } from '../../../src/metainfo/web-seed-urls.js'
import { relativeSymlinkTarget } from '../../../src/metainfo/symlink-target.js'
import { parseMagnet } from '../../../src/metainfo/magnet.js'

const bytes = (s: string): number => new TextEncoder().encode(s).length

describe('file names', () => {
  it('leaves names of up to 255 UTF-8 bytes alone', () => {
    for (const name of ['a', 'x'.repeat(255), `${'ü'.repeat(127)}a`]) expect(shortenName(name)).toBe(name)
  })

  it('shortens longer names to 240 bytes on a code point plus an extension of up to 9 bytes', () => {
    expect(shortenName(`${'x'.repeat(256)}`)).toBe('x'.repeat(240))
    expect(shortenName(`${'x'.repeat(250)}.tar.gz`)).toBe(`${'x'.repeat(240)}.gz`)
    expect(shortenName(`${'x'.repeat(250)}.markdown`)).toBe(`${'x'.repeat(240)}.markdown`)
    expect(shortenName(`${'x'.repeat(250)}.properties`)).toBe('x'.repeat(240))
    const cjk = shortenName(`${'日'.repeat(100)}.txt`)
    expect(cjk).toBe(`${'日'.repeat(80)}.txt`)
    expect(bytes(cjk)).toBe(244)
    // 239 ASCII bytes then 3-byte characters: the cut rounds up to the end of the code point.
    expect(shortenName(`${'a'.repeat(239)}${'日'.repeat(10)}.mp4`)).toBe(`${'a'.repeat(239)}日.mp4`)
  })

  it('drops empty components and recognises BitComet pad names', () => {
    expect(cleanPath(['', 'a', '', 'b', ''])).toEqual(['a', 'b'])
    expect(cleanPath(['', ''])).toEqual([])
    expect(isPadFileName(['_____padding_file_3_if you see this file, please update to BitComet 0.85 or above____'])).toBe(true)
    expect(isPadFileName(['dir', 'x_____padding_file_'])).toBe(true)
    expect(isPadFileName(['padding_file'])).toBe(false)
  })
})

describe('web seed URLs', () => {
  it('canonicalises http(s) and refuses everything else', () => {
    expect(normalizeWebSeedUrl('  HTTP://Mirror.Example:80/a b/ü#x ')).toBe('http://mirror.example/a%20b/%C3%BC')
    expect(normalizeWebSeedUrl('https://h:8443/x?y=1')).toBe('https://h:8443/x?y=1')
    for (const bad of ['ftp://h/x', 'h/x', '', 'http://', 'javascript:alert(1)', 'http://[::1/']) expect(normalizeWebSeedUrl(bad)).toBeNull()
  })

  it('de-duplicates after canonicalising, keeping the first position', () => {
    expect(normalizeWebSeedUrls(['http://b/', 'http://a/', ' http://B/', 'http://a:80/', 'udp://c/'])).toEqual(['http://b/', 'http://a/'])
  })

  it('magnet ws= gets the same treatment', () => {
    const m = parseMagnet(`magnet:?xt=urn:btih:${'a'.repeat(40)}&ws=${encodeURIComponent('http://W/x y')}&ws=${encodeURIComponent('http://w/x%20y')}&ws=ftp%3A%2F%2Fz`)
    expect(m.webSeeds).toEqual(['http://w/x%20y'])
  })
})

describe('relative symlink targets', () => {
  it.each<[string[], string[], string]>([
    [['link'], ['a'], 'a'],
    [['link'], ['d', 'a'], 'd/a'],
    [['d', 'link'], ['d', 'a'], 'a'],
    [['d', 'e', 'link'], ['d', 'a'], '../a'],
    [['d', 'link'], ['x', 'y'], '../x/y'],
    [['a', 'b', 'link'], ['a', 'b'], '../b'],
    [['a', 'link'], ['a'], '../a']
  ])('link %j → %j is %j', (link, target, expected) => {
    expect(relativeSymlinkTarget(link, target)).toBe(expected)
  })
})
