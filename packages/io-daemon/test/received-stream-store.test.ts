// The io-daemon's store of received TCP data for FILE_WRITE_RECV (issue 17): stream offsets,
// ranges across payloads, the memory cap (oldest first), and pins that keep a payload's memory
// from being reused while a write reads it.
import { describe, expect, it } from 'vitest'
import { ReceivedStreamStore } from '../src/received-stream-store.js'

const bytes = (from: number, n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (from + i) & 0xff)
const join = (parts: Uint8Array[]): number[] => parts.flatMap((p) => [...p])

describe('ReceivedStreamStore', () => {
  it('numbers each socket stream from 0 and serves a range across payloads', () => {
    const store = new ReceivedStreamStore(1 << 20)
    store.open(1)
    store.open(2)
    store.append(1, bytes(0, 100))
    store.append(2, bytes(7, 10))
    store.append(1, bytes(100, 50))
    const r = store.take(1, 90, 30)
    expect(r).not.toBeNull()
    expect(r!.parts.map((p) => p.length)).toEqual([10, 20])
    expect(join(r!.parts)).toEqual([...bytes(90, 30)])
    expect(join(store.take(2, 0, 10)!.parts)).toEqual([...bytes(7, 10)])
    // Past what arrived, before 0 of another socket, an unknown socket, an empty range: not held.
    expect(store.take(1, 140, 11)).toBeNull()
    expect(store.take(3, 0, 1)).toBeNull()
    expect(store.take(1, 0, 0)).toBeNull()
  })

  it('drops the oldest payloads of any socket above the cap, and a new socket on an id starts afresh', () => {
    const released: string[] = []
    const store = new ReceivedStreamStore(250)
    store.open(1)
    store.open(2)
    store.append(1, bytes(0, 100), 100, () => released.push('1a'))
    store.append(2, bytes(0, 100), 100, () => released.push('2a'))
    store.append(1, bytes(100, 100), 100, () => released.push('1b'))
    expect(released).toEqual(['1a'])
    expect(store.heldBytes).toBe(200)
    expect(store.take(1, 50, 60)).toBeNull()
    const b = store.take(1, 100, 100)!
    expect(join(b.parts)).toEqual([...bytes(100, 100)])
    store.unpin(b)
    // Cost counts the memory a payload pins, not only its length.
    store.append(2, bytes(100, 10), 200, () => released.push('2b'))
    expect(released).toEqual(['1a', '2a', '1b'])
    store.open(2)
    expect(released).toEqual(['1a', '2a', '1b', '2b'])
    expect(store.take(2, 0, 1)).toBeNull()
    store.append(2, bytes(50, 5))
    expect(join(store.take(2, 0, 5)!.parts)).toEqual([...bytes(50, 5)])
  })

  it('a pinned payload is let go only when the write that reads it settles', () => {
    const released: string[] = []
    const store = new ReceivedStreamStore(150)
    store.append(1, bytes(0, 100), 100, () => released.push('a'))
    const pinned = store.take(1, 10, 20)!
    store.append(1, bytes(100, 100), 100, () => released.push('b'))
    expect(released).toEqual([])
    expect(store.take(1, 10, 20)).toBeNull() // dropped from the index at once
    store.unpin(pinned)
    expect(released).toEqual(['a'])
    store.clear()
    expect(released).toEqual(['a', 'b'])
    expect(store.heldBytes).toBe(0)
  })
})
