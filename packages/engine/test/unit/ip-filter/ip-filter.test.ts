import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { IpFilter, parseIpAddress, parseIpRange, formatIpv6BigInt } from '../../../src/ip-filter/ip-filter.js'
import { detectIpFilterFormat, parseEmuleIpFilter, parseIpFilterList, parseP2pIpFilter } from '../../../src/ip-filter/ip-filter-formats.js'
import { hasCode } from '../../../src/errors.js'

function thrown (fn: () => unknown): unknown {
  try { fn() } catch (e) { return e }
  return undefined
}

describe('IpFilter rules', () => {
  it('allows everything by default and denies single addresses, ranges and CIDR blocks', () => {
    const f = new IpFilter()
    expect(f.isAllowed('1.2.3.4')).toBe(true)
    expect(f.isEmpty).toBe(true)
    f.addRule('1.2.3.4', 'deny')
    f.addRule('10.0.0.0/8', 'deny')
    f.addRule('192.168.1.10 - 192.168.1.20', 'deny')
    expect(f.isAllowed('1.2.3.4')).toBe(false)
    expect(f.isAllowed('1.2.3.5')).toBe(true)
    expect(f.isAllowed('1.2.3.3')).toBe(true)
    expect(f.isAllowed('10.0.0.0')).toBe(false)
    expect(f.isAllowed('10.255.255.255')).toBe(false)
    expect(f.isAllowed('11.0.0.0')).toBe(true)
    expect(f.isAllowed('9.255.255.255')).toBe(true)
    expect(f.isAllowed('192.168.1.9')).toBe(true)
    expect(f.isAllowed('192.168.1.10')).toBe(false)
    expect(f.isAllowed('192.168.1.20')).toBe(false)
    expect(f.isAllowed('192.168.1.21')).toBe(true)
    expect(f.access('10.1.1.1')).toBe('deny')
  })

  it('later rules override earlier ones: allow punches a hole, deny merges', () => {
    const f = new IpFilter().addRule('10.0.0.0/8', 'deny').addRule('10.1.2.3', 'allow')
    expect(f.isAllowed('10.1.2.2')).toBe(false)
    expect(f.isAllowed('10.1.2.3')).toBe(true)
    expect(f.isAllowed('10.1.2.4')).toBe(false)
    expect(f.deniedRanges()).toEqual([
      { first: '10.0.0.0', last: '10.1.2.2' },
      { first: '10.1.2.4', last: '10.255.255.255' }
    ])
    f.addRule('10.1.2.3', 'deny')
    expect(f.deniedRanges()).toEqual([{ first: '10.0.0.0', last: '10.255.255.255' }])
    // Adjacent ranges merge into one.
    const g = new IpFilter().addRule('1.0.0.0-1.0.0.9', 'deny').addRule('1.0.0.10-1.0.0.20', 'deny')
    expect(g.size).toBe(1)
    // Deny all, allow one.
    const h = new IpFilter().addRule('0.0.0.0/0', 'deny').addRule('127.0.0.1', 'allow')
    expect(h.isAllowed('127.0.0.1')).toBe(true)
    expect(h.isAllowed('127.0.0.2')).toBe(false)
    expect(h.isAllowed('0.0.0.0')).toBe(false)
    expect(h.isAllowed('255.255.255.255')).toBe(false)
  })

  it('handles IPv6 (CIDR, ranges, brackets) and IPv4-mapped addresses', () => {
    const f = new IpFilter()
      .addRule('2001:db8::/32', 'deny')
      .addRule('[::1]', 'deny')
      .addRule('fe80::1 - fe80::ff', 'deny')
      .addRule('127.0.0.2', 'deny')
    expect(f.isAllowed('2001:db8::1')).toBe(false)
    expect(f.isAllowed('2001:db8:ffff:ffff:ffff:ffff:ffff:ffff')).toBe(false)
    expect(f.isAllowed('2001:db9::')).toBe(true)
    expect(f.isAllowed('::1')).toBe(false)
    expect(f.isAllowed('[::1]')).toBe(false)
    expect(f.isAllowed('::2')).toBe(true)
    expect(f.isAllowed('fe80::80')).toBe(false)
    expect(f.isAllowed('fe80::100')).toBe(true)
    // What a dual-stack socket reports for an IPv4 peer.
    expect(f.isAllowed('::ffff:127.0.0.2')).toBe(false)
    expect(f.isAllowed('::ffff:127.0.0.1')).toBe(true)
    // A rule written as IPv4-mapped IPv6 covers the plain IPv4 address too.
    const m = new IpFilter().addRule('::ffff:10.0.0.0/104', 'deny')
    expect(m.isAllowed('10.200.0.1')).toBe(false)
    expect(m.isAllowed('::ffff:10.200.0.1')).toBe(false)
    expect(m.isAllowed('11.0.0.1')).toBe(true)
    // Host names cannot be judged here.
    expect(f.isAllowed('example.org')).toBe(true)
    expect(f.deniedRanges()).toContainEqual({ first: '2001:db8::', last: '2001:db8:ffff:ffff:ffff:ffff:ffff:ffff' })
  })

  it('refuses malformed rules with ADDRESS_INVALID and leaves the filter unchanged', () => {
    const f = new IpFilter()
    for (const bad of ['1.2.3', '1.2.3.256', '1.2.3.4/33', '::1/129', '1.2.3.9-1.2.3.1', '1.2.3.4-::5', 'x', '1.2.3.4/']) {
      expect(hasCode(thrown(() => f.addRule(bad, 'deny')), 'ADDRESS_INVALID'), bad).toBe(true)
    }
    expect(hasCode(thrown(() => f.addRules([{ range: '1.1.1.1', access: 'deny' }, { range: 'nope', access: 'deny' }])), 'ADDRESS_INVALID')).toBe(true)
    expect(f.isEmpty).toBe(true)
  })

  it('parses addresses itself (leading zeros decimal, :: forms, trailing dotted quad)', () => {
    expect(parseIpAddress('001.002.003.004')).toEqual({ family: 4, value: 0x01020304 })
    expect(parseIpAddress('::ffff:1.2.3.4')).toEqual({ family: 6, value: 0xffff01020304n })
    expect(parseIpAddress('1::')).toEqual({ family: 6, value: 1n << 112n })
    expect(parseIpAddress('1:2:3:4:5:6:7:8:9')).toBeNull()
    expect(parseIpAddress('1::2::3')).toBeNull()
    expect(parseIpRange('1.2.3.77/24')).toEqual({ family: 4, first: 0x01020300, last: 0x010203ff })
    expect(formatIpv6BigInt(parseIpAddress('2001:db8:0:0:1:0:0:1')!.value as bigint)).toBe('2001:db8::1:0:0:1')
  })

  it('matches a naive model for random rule sequences (property)', () => {
    // A small address space (10.0.0.0/26) so overlaps are frequent.
    const ruleArb = fc.record({ a: fc.integer({ min: 0, max: 63 }), b: fc.integer({ min: 0, max: 63 }), deny: fc.boolean() })
    fc.assert(fc.property(fc.array(ruleArb, { maxLength: 30 }), fc.boolean(), (rules, batch) => {
      const model = new Array<boolean>(64).fill(true)
      const f = new IpFilter()
      const list = rules.map(({ a, b, deny }) => {
        const lo = Math.min(a, b)
        const hi = Math.max(a, b)
        for (let i = lo; i <= hi; i++) model[i] = !deny
        return { range: `10.0.0.${lo}-10.0.0.${hi}`, access: deny ? 'deny' as const : 'allow' as const }
      })
      if (batch) f.addRules(list)
      else for (const r of list) f.addRule(r.range, r.access)
      for (let i = 0; i < 64; i++) expect(f.isAllowed(`10.0.0.${i}`)).toBe(model[i])
      // Invariant: sorted, disjoint, non-adjacent.
      const ranges = f.deniedRanges().map((r) => [Number(r.first.split('.')[3]), Number(r.last.split('.')[3])] as const)
      for (let i = 1; i < ranges.length; i++) expect(ranges[i]![0]).toBeGreaterThan(ranges[i - 1]![1] + 1)
    }), { numRuns: 150 })
  })

  it('loads 100 000 ranges quickly and looks them up by binary search', () => {
    const rules = []
    for (let i = 0; i < 100_000; i++) {
      // Shuffled order: every 7th block of 256 addresses.
      const k = (i * 7919) % 100_000
      const base = k * 7 * 256
      rules.push({ range: `${base >>> 24}.${(base >>> 16) & 255}.${(base >>> 8) & 255}.0/24`, access: 'deny' as const })
    }
    const t0 = performance.now()
    const f = new IpFilter().addRules(rules)
    const loadMs = performance.now() - t0
    expect(f.size).toBe(100_000)
    const t1 = performance.now()
    let denied = 0
    for (let i = 0; i < 100_000; i++) if (!f.isAllowed(`${i % 200}.${(i * 7) % 256}.${(i * 13) % 256}.1`)) denied++
    const lookupMs = performance.now() - t1
    expect(denied).toBeGreaterThan(0)
    expect(loadMs).toBeLessThan(5_000)
    expect(lookupMs).toBeLessThan(2_000)
  })
})

describe('block-list formats', () => {
  const dat = [
    '# eMule ipfilter.dat',
    '',
    '001.002.004.000 - 001.002.004.255 , 000 , Bogon',
    '  010.000.000.000 - 010.000.000.255 , 127 , Private, with a comma',
    '020.000.000.000 - 020.000.000.255 , 200 , Allowed level',
    '// comment'
  ].join('\r\n')

  it('parses eMule ipfilter.dat: level <= 127 blocks, higher levels do not', () => {
    const r = parseEmuleIpFilter(dat)
    expect(r.format).toBe('emule-dat')
    expect(r.blockedRanges).toBe(2)
    expect(r.allowedLines).toBe(1)
    expect(r.skippedLines).toBe(0)
    expect(r.filter.isAllowed('1.2.4.7')).toBe(false)
    expect(r.filter.isAllowed('10.0.0.255')).toBe(false)
    expect(r.filter.isAllowed('20.0.0.1')).toBe(true)
    expect(r.filter.isAllowed('1.2.5.0')).toBe(true)
  })

  it('parses PeerGuardian .p2p with colons in descriptions', () => {
    const p2p = '# PeerGuardian\nBogon:1.2.4.0-1.2.4.255\nSome: org: inc:5.6.7.8 - 5.6.7.9\n'
    const r = parseP2pIpFilter(new TextEncoder().encode(p2p))
    expect(r.blockedRanges).toBe(2)
    expect(r.filter.isAllowed('5.6.7.9')).toBe(false)
    expect(r.filter.isAllowed('5.6.7.10')).toBe(true)
    expect(detectIpFilterFormat(p2p)).toBe('p2p')
    expect(detectIpFilterFormat(dat)).toBe('emule-dat')
    expect(parseIpFilterList(p2p).format).toBe('p2p')
    expect(parseIpFilterList(dat).blockedRanges).toBe(2)
  })

  it('strict mode names the first bad line with IP_FILTER_INVALID', () => {
    const bad = 'a:1.2.3.4-1.2.3.5\n\nb:1.2.3.4-1.2.3\nc:1.1.1.1-1.1.1.2'
    const err = thrown(() => parseP2pIpFilter(bad))
    expect(hasCode(err, 'IP_FILTER_INVALID')).toBe(true)
    if (hasCode(err, 'IP_FILTER_INVALID')) expect(err.details.line).toBe(3)
    const datErr = thrown(() => parseEmuleIpFilter('1.1.1.1 - 1.1.1.2 , 0 , ok\n1.1.1.1 - 1.1.1.2 , x , bad level'))
    expect(hasCode(datErr, 'IP_FILTER_INVALID') && datErr.details.line).toBe(2)
    expect(hasCode(thrown(() => parseEmuleIpFilter('1.1.1.1 , 0')), 'IP_FILTER_INVALID')).toBe(true)
    expect(hasCode(thrown(() => parseIpFilterList('hello world')), 'IP_FILTER_INVALID')).toBe(true)
  })

  it('lenient mode skips bad lines, counts them and reports their numbers', () => {
    const text = 'a:1.2.3.4-1.2.3.5\nb:junk\nc:9.9.9.9-9.9.9.1\nd:7.7.7.7-7.7.7.7'
    const existing = new IpFilter().addRule('8.8.8.8', 'deny')
    const r = parseP2pIpFilter(text, { lenient: true, filter: existing })
    expect(r.filter).toBe(existing)
    expect(r.blockedRanges).toBe(2)
    expect(r.skippedLines).toBe(2)
    expect(r.errors.map((e) => e.line)).toEqual([2, 3])
    expect(existing.isAllowed('8.8.8.8')).toBe(false)
    expect(existing.isAllowed('7.7.7.7')).toBe(false)
  })
})
