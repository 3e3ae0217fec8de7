/**
 * Persistence port for resume data (seed 004). Key names:
 * `torrent:{infohash}:bitfield|metadata|progress|peers`, plus `engine:*` for engine-wide state.
 * A `set` is atomic: after a crash a key holds either its old or its new value, never a torn one.
 */
export interface ISessionStore {
  get (key: string): Promise<Uint8Array | null>
  set (key: string, value: Uint8Array): Promise<void>
  delete (key: string): Promise<void>
  keys (prefix?: string): Promise<string[]>
  clear (): Promise<void>
}
