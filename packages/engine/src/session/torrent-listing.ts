/**
 * Which torrents a restore brings back, and in what order: one `torrent:{id}:listed:{seq}` key per
 * torrent (resume-data.ts), so adding or removing one is O(1) store work.
 *
 * Why not one list record: rewriting a list of every id on each add or remove cost O(n) bytes per
 * change. Adding 10 000 torrents at once wrote it 459 times (~100 MB of records, coalesced), and
 * those dead records filled the packed store's file until it compacted again and again.
 *
 * Crash safety (every `set`/`delete` of the store is atomic, and the store keeps their order):
 * - add: the metadata (or magnet) record first, then the `listed` key. A kill in between leaves
 *   records nobody lists: never restored, deleted by the next restore.
 * - remove: the `listed` key first, then the records. A kill in between leaves the same kind of
 *   leftovers, so a removed torrent never comes back half-restored.
 * - migration of a store with the former list: the marker, then a `listed` key per listed id, then
 *   the list is deleted. Until it is deleted a restore reads both (the union), so a kill anywhere
 *   restores the same set.
 */
import type { ISessionStore } from '../interfaces/session-store.js'
import {
  ENGINE_LISTING_KEY, ENGINE_TORRENTS_KEY, decodeTorrentList, encodeListingMarker, listedKey, parseListedKey, resumeKeys
} from './resume-data.js'

const EMPTY = new Uint8Array(0)
const RECORD_KEY = /^torrent:([0-9a-f]{40}):/

export class TorrentListing {
  /** id → its `listed` key (the ones this engine read or wrote). */
  private readonly keys = new Map<string, string>()
  private nextSeq = 0
  /** The marker is stored and `nextSeq` is past every stored seq. */
  private prepared: Promise<void> | null = null

  constructor (
    private readonly store: ISessionStore,
    private readonly onWarning: (error: unknown) => void
  ) {}

  has (id: string): boolean { return this.keys.has(id) }

  /** Lists `id` (its metadata or magnet record is stored already). */
  async add (id: string): Promise<void> {
    if (this.keys.has(id)) return
    await this.prepare()
    if (this.keys.has(id)) return
    const key = listedKey(id, this.nextSeq++)
    this.keys.set(id, key)
    await this.store.set(key, EMPTY)
  }

  /** Unlists `id`, then deletes every record of it. */
  async remove (id: string): Promise<void> {
    const key = this.keys.get(id)
    this.keys.delete(id)
    // Awaited first: a store may run writes to different keys in any order.
    if (key !== undefined) await this.store.delete(key)
    await Promise.all(Object.values(resumeKeys(id)).map(async (record) => { await this.store.delete(record) }))
  }

  /**
   * The ids to restore, in the order they were listed. A store with the former list is migrated
   * (see the header); one with neither the list nor the marker gives every id with stored metadata.
   * Records of ids nobody lists (a kill mid-add or mid-remove) are deleted, except `live` ones.
   * @throws whatever the store throws.
   */
  async read (live: (id: string) => boolean): Promise<string[]> {
    const all = await this.store.keys('torrent:')
    const listed: Array<{ id: string, seq: number, key: string }> = []
    const recorded = new Map<string, string[]>()
    for (const key of all) {
      const entry = parseListedKey(key)
      if (entry !== null) {
        listed.push({ ...entry, key })
        continue
      }
      const id = RECORD_KEY.exec(key)?.[1]
      if (id === undefined) continue
      const keys = recorded.get(id)
      if (keys === undefined) recorded.set(id, [key])
      else keys.push(key)
    }
    listed.sort((a, b) => a.seq - b.seq || (a.id < b.id ? -1 : 1))
    for (const e of listed) {
      // Two keys for one id (a kill between writing a new one and deleting the old): the first counts.
      if (this.keys.has(e.id)) continue
      this.keys.set(e.id, e.key)
      if (e.seq >= this.nextSeq) this.nextSeq = e.seq + 1
    }
    const marked = await this.store.get(ENGINE_LISTING_KEY) !== null
    if (marked) this.prepared ??= Promise.resolve()
    const { ids: former, present: hasFormer } = await this.readFormerList()
    let ids: string[]
    if (former === null && !marked && listed.length === 0) {
      // Nothing ever listed a torrent here: every id whose metadata (or magnet) is stored.
      ids = [...recorded].filter(([, keys]) => keys.some((k) => k.endsWith(':metadata') || k.endsWith(':magnet'))).map(([id]) => id)
    } else {
      const seen = new Set<string>()
      ids = []
      for (const id of [...(former ?? []), ...this.keys.keys()]) {
        if (seen.has(id)) continue
        seen.add(id)
        ids.push(id)
      }
    }
    await this.migrate(ids, hasFormer)
    const members = new Set(ids)
    const leftovers = [...recorded].filter(([id]) => !members.has(id) && !live(id)).flatMap(([, keys]) => keys)
    await Promise.all(leftovers.map(async (key) => { await this.store.delete(key) }))
    return ids
  }

  /** The former list's ids (null when absent or damaged: a warning), and whether it is stored. */
  private async readFormerList (): Promise<{ ids: string[] | null, present: boolean }> {
    const bytes = await this.store.get(ENGINE_TORRENTS_KEY)
    if (bytes === null) return { ids: null, present: false }
    try {
      return { ids: decodeTorrentList(bytes), present: true }
    } catch (error) {
      this.onWarning(error)
      return { ids: null, present: true }
    }
  }

  /** Lists every id of `ids` not listed yet (in order), then deletes the former list. */
  private async migrate (ids: readonly string[], hasFormer: boolean): Promise<void> {
    const unlisted = ids.filter((id) => !this.keys.has(id))
    if (unlisted.length === 0 && !hasFormer) return
    await this.prepare()
    // All at once (a store commits concurrent writes together), and all before the list goes.
    await Promise.all(unlisted.map(async (id) => {
      const key = listedKey(id, this.nextSeq++)
      this.keys.set(id, key)
      await this.store.set(key, EMPTY)
    }))
    if (hasFormer) await this.store.delete(ENGINE_TORRENTS_KEY)
  }

  private async prepare (): Promise<void> {
    this.prepared ??= (async () => {
      for (const key of await this.store.keys('torrent:')) {
        const seq = parseListedKey(key)?.seq
        if (seq !== undefined && seq >= this.nextSeq) this.nextSeq = seq + 1
      }
      if (await this.store.get(ENGINE_LISTING_KEY) === null) await this.store.set(ENGINE_LISTING_KEY, encodeListingMarker())
    })().catch((error: unknown) => {
      this.prepared = null
      throw error
    })
    await this.prepared
  }
}
