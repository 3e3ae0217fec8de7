/**
 * An in-memory {@link ISessionStore}: the memory preset's default and the reference the
 * session-store contract tests compare the file store against.
 *
 * Values are copied in and out, so neither the caller nor the store can change the other's bytes
 * afterwards (what a persistent store gives for free).
 */
/* eslint-disable @typescript-eslint/require-await -- the port is async; memory completes synchronously */
import type { ISessionStore } from '../../src/interfaces/session-store.js'

export class MemorySessionStore implements ISessionStore {
  private readonly entries = new Map<string, Uint8Array>()

  async get (key: string): Promise<Uint8Array | null> {
    const value = this.entries.get(key)
    return value === undefined ? null : new Uint8Array(value)
  }

  async set (key: string, value: Uint8Array): Promise<void> {
    this.entries.set(key, new Uint8Array(value))
  }

  async delete (key: string): Promise<void> {
    this.entries.delete(key)
  }

  /** Keys starting with `prefix` (all keys without one), sorted. */
  async keys (prefix = ''): Promise<string[]> {
    return [...this.entries.keys()].filter((key) => key.startsWith(prefix)).sort()
  }

  async clear (): Promise<void> {
    this.entries.clear()
  }

  /** Number of keys (synchronous, for tests). */
  get size (): number { return this.entries.size }
}
