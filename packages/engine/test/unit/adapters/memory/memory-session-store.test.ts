import { describe, expect, it } from 'vitest'
import { MemorySessionStore } from '../../../../adapters/memory/memory-session-store.js'
import { runSessionStoreContract } from '../../../contracts/session-store.contract.js'

runSessionStoreContract('MemorySessionStore', async () => ({ store: new MemorySessionStore() }))

describe('MemorySessionStore specifics', () => {
  it('reports its size', async () => {
    const store = new MemorySessionStore()
    await store.set('a', new Uint8Array([1]))
    await store.set('b', new Uint8Array([2]))
    expect(store.size).toBe(2)
    await store.clear()
    expect(store.size).toBe(0)
  })
})
