/** The slice of the untyped `bittorrent-tracker` server API the interop tests use. */
declare module 'bittorrent-tracker/server' {
  import type { EventEmitter } from 'node:events'
  import type { Server as HttpServer } from 'node:http'
  import type { Socket } from 'node:dgram'

  export interface ServerOptions {
    http?: boolean
    udp?: boolean
    ws?: boolean
    stats?: boolean
    /** Announce interval told to clients, in ms. */
    interval?: number
    /** Calls back with an Error to refuse a torrent. */
    filter?: (infoHashHex: string, params: unknown, cb: (err: Error | null) => void) => void
  }

  export default class Server extends EventEmitter {
    constructor (options?: ServerOptions)
    http: HttpServer | null
    udp4: Socket | null
    udp6: Socket | null
    listen (port: number | { http?: number, udp?: number }, hostname?: string | { http?: string, udp?: string, udp6?: string }): void
    close (cb?: (err?: Error | null) => void): void
  }
}
