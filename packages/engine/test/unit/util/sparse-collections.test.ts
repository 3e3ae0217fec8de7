/**
 * SparseMap / SparseSet (issue 13, 10 000 torrents): nothing allocated until the first entry, and
 * otherwise what Map and Set do — checked against them over random operations, including entries
 * added and deleted while iterating. And TypedEmitter's per-event listener arrays keep Set semantics.
 */
import { describe, expect, it } from 'vitest'
import { seededRandom } from '../../../src/interfaces/random.js'
import { SparseMap, SparseSet } from '../../../src/util/sparse-collections.js'
import { TypedEmitter } from '../../../src/util/typed-emitter.js'

const innerOf = (c: object): unknown => (c as { inner: unknown }).inner

describe('SparseMap and SparseSet', () => {
  it('allocate nothing while empty, and answer like an empty Map / Set', () => {
    const m = new SparseMap<string, number>()
    const s = new SparseSet<string>()
    expect(m.size + s.size).toBe(0)
    expect([m.get('a'), m.has('a'), m.delete('a'), s.has('a'), s.delete('a')]).toEqual([undefined, false, false, false, false])
    expect([...m, ...m.keys(), ...m.values(), ...m.entries(), ...s, ...s.entries()]).toEqual([])
    m.forEach(() => { throw new Error('called') })
    s.forEach(() => { throw new Error('called') })
    m.clear()
    s.clear()
    expect(innerOf(m)).toBeNull()
    expect(innerOf(s)).toBeNull()
    m.set('a', 1)
    s.add('a')
    expect(innerOf(m)).not.toBeNull()
    expect(innerOf(s)).not.toBeNull()
  })

  it('do what Map and Set do over 2 000 random operations', () => {
    const random = seededRandom(7)
    const m = new SparseMap<number, number>()
    const refM = new Map<number, number>()
    const s = new SparseSet<number>()
    const refS = new Set<number>()
    for (let i = 0; i < 2_000; i++) {
      const key = Math.floor(random.next() * 12)
      const op = Math.floor(random.next() * 10)
      if (op < 4) {
        expect(m.set(key, i)).toBe(m)
        refM.set(key, i)
        expect(s.add(key)).toBe(s)
        refS.add(key)
      } else if (op < 7) {
        expect(m.delete(key)).toBe(refM.delete(key))
        expect(s.delete(key)).toBe(refS.delete(key))
      } else if (op === 7) {
        m.clear(); refM.clear(); s.clear(); refS.clear()
      } else if (op === 8) {
        // Delete and add while iterating: both see the same entries as the built-ins.
        const seen: number[] = []
        const refSeen: number[] = []
        for (const [k] of m) { seen.push(k); if (k % 2 === 0) m.delete(k); if (seen.length === 1) m.set(100 + i, i) }
        for (const [k] of refM) { refSeen.push(k); if (k % 2 === 0) refM.delete(k); if (refSeen.length === 1) refM.set(100 + i, i) }
        expect(seen).toEqual(refSeen)
        for (const k of [...refM.keys()]) if (k >= 100) { refM.delete(k); m.delete(k) }
      }
      expect([m.size, m.get(key), m.has(key)]).toEqual([refM.size, refM.get(key), refM.has(key)])
      expect([...m.entries()]).toEqual([...refM.entries()])
      expect([s.size, s.has(key), [...s]]).toEqual([refS.size, refS.has(key), [...refS]])
    }
    const pairs: Array<[number, number]> = []
    m.forEach((v, k, map) => { expect(map).toBe(m); pairs.push([k, v]) })
    expect(pairs).toEqual([...refM])
  })
})

describe('TypedEmitter listener arrays', () => {
  interface Events { a: number }
  class E extends TypedEmitter<Events> { fire (n: number): void { this.emit('a', n) } }

  it('a listener subscribed twice runs once; listeners added or removed during an emit take effect after it', () => {
    const e = new E()
    const seen: string[] = []
    const one = (n: number): void => { seen.push(`one:${n}`) }
    const offOne = e.on('a', one)
    e.on('a', one)
    let offThree: () => void = () => {}
    const offTwo = e.on('a', (n) => {
      seen.push(`two:${n}`)
      offOne()
      offThree = e.on('a', (m) => { seen.push(`three:${m}`) })
    })
    e.fire(1)
    expect(seen).toEqual(['one:1', 'two:1'])
    offTwo()
    e.fire(2)
    expect(seen).toEqual(['one:1', 'two:1', 'three:2'])
    offThree()
    e.fire(3)
    expect(seen).toHaveLength(3)
    expect(e.hasListeners('a')).toBe(false)
  })
})
