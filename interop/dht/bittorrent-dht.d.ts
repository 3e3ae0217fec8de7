/** The slice of the untyped `bittorrent-dht` (WebTorrent's DHT) API the interop tests use. */
declare module 'bittorrent-dht' {
  import type { EventEmitter } from 'node:events'

  export interface DhtOptions {
    /** `host:port` strings, or false for none (the default is the public routers). */
    bootstrap?: string[] | false
    host?: string
  }

  export default class DHT extends EventEmitter {
    constructor (options?: DhtOptions)
    listen (port: number, address: string, onListening?: () => void): void
    address (): { address: string, port: number }
    addNode (node: { host: string, port: number }): void
    announce (infoHash: string | Uint8Array, port: number, cb?: (err: Error | null) => void): void
    lookup (infoHash: string | Uint8Array, cb?: (err: Error | null, found?: number) => void): () => void
    toJSON (): { nodes: Array<{ host: string, port: number }> }
    destroy (cb?: () => void): void
    on (event: 'peer', listener: (peer: { host: string, port: number }, infoHash: Uint8Array, from: unknown) => void): this
    on (event: 'ready' | 'listening', listener: () => void): this
    on (event: 'error' | 'warning', listener: (err: Error) => void): this
  }
}
