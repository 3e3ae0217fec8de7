/**
 * A Map and a Set that allocate nothing until their first entry.
 *
 * Why: V8 gives every `new Map()` / `new Set()` a hash table at once (~150-200 bytes with the object).
 * A torrent held ~48 of them — its storage's caches, the picker's partial pieces, the choker's
 * history, the swarm's sessions, the connection manager's entry... — and a seeding torrent with no
 * peer leaves nearly all of them empty for its whole life: ~8 KB per torrent, 80 MB for 10 000
 * (issue 13). These wrappers cost one small object until something is stored.
 *
 * They keep Map/Set semantics, including iteration while entries are added or deleted: once made,
 * the inner collection is kept (also when it empties again). (An iterator taken while nothing was
 * ever stored stays empty.)
 */
const NO_ENTRIES: ReadonlyMap<unknown, unknown> = new Map()
const NO_VALUES: ReadonlySet<unknown> = new Set()

export class SparseMap<K, V> implements ReadonlyMap<K, V> {
  private inner: Map<K, V> | null = null

  get size (): number { return this.inner === null ? 0 : this.inner.size }
  get (key: K): V | undefined { return this.inner === null ? undefined : this.inner.get(key) }
  has (key: K): boolean { return this.inner !== null && this.inner.has(key) }

  set (key: K, value: V): this {
    (this.inner ??= new Map()).set(key, value)
    return this
  }

  delete (key: K): boolean { return this.inner !== null && this.inner.delete(key) }
  clear (): void { this.inner?.clear() }
  keys (): MapIterator<K> { return (this.inner ?? NO_ENTRIES as ReadonlyMap<K, V>).keys() }
  values (): MapIterator<V> { return (this.inner ?? NO_ENTRIES as ReadonlyMap<K, V>).values() }
  entries (): MapIterator<[K, V]> { return (this.inner ?? NO_ENTRIES as ReadonlyMap<K, V>).entries() }
  [Symbol.iterator] (): MapIterator<[K, V]> { return this.entries() }

  forEach (callback: (value: V, key: K, map: ReadonlyMap<K, V>) => void): void {
    this.inner?.forEach((value, key) => { callback(value, key, this) })
  }
}

export class SparseSet<T> implements ReadonlySet<T> {
  private inner: Set<T> | null = null

  get size (): number { return this.inner === null ? 0 : this.inner.size }
  has (value: T): boolean { return this.inner !== null && this.inner.has(value) }

  add (value: T): this {
    (this.inner ??= new Set()).add(value)
    return this
  }

  delete (value: T): boolean { return this.inner !== null && this.inner.delete(value) }
  clear (): void { this.inner?.clear() }
  keys (): SetIterator<T> { return this.values() }
  values (): SetIterator<T> { return (this.inner ?? NO_VALUES as ReadonlySet<T>).values() }
  entries (): SetIterator<[T, T]> { return (this.inner ?? NO_VALUES as ReadonlySet<T>).entries() }
  [Symbol.iterator] (): SetIterator<T> { return this.values() }

  forEach (callback: (value: T, key: T, set: ReadonlySet<T>) => void): void {
    this.inner?.forEach((value) => { callback(value, value, this) })
  }
}
