// The web-standard globals the platform-agnostic core may use. Node, browsers and workers all
// provide them. Anything else (Buffer, process, setTimeout, window) must come through a port.

declare class TextEncoder {
  encode (input?: string): Uint8Array
  encodeInto (src: string, dest: Uint8Array): { read: number, written: number }
}
declare class TextDecoder {
  constructor (label?: string, options?: { fatal?: boolean, ignoreBOM?: boolean })
  decode (input?: ArrayBufferView | ArrayBuffer, options?: { stream?: boolean }): string
}
declare function queueMicrotask (callback: () => void): void

interface AbortSignal {
  readonly aborted: boolean
  readonly reason: unknown
  throwIfAborted (): void
  addEventListener (type: 'abort', listener: () => void, options?: { once?: boolean }): void
  removeEventListener (type: 'abort', listener: () => void): void
}
declare const AbortSignal: {
  prototype: AbortSignal
  abort (reason?: unknown): AbortSignal
  any (signals: AbortSignal[]): AbortSignal
}
declare class AbortController {
  readonly signal: AbortSignal
  abort (reason?: unknown): void
}

declare function btoa (data: string): string
declare function atob (data: string): string

/** WebCrypto, present in Node >= 19, browsers and workers. */
declare const crypto: {
  readonly subtle: {
    digest (algorithm: 'SHA-1' | 'SHA-256', data: Uint8Array): Promise<ArrayBuffer>
  }
  getRandomValues<T extends Uint8Array | Uint16Array | Uint32Array> (array: T): T
}

/** WHATWG streams (Node >= 18, browsers, workers): the subset the core uses for file streaming. */
interface ReadableStreamDefaultController<R> {
  readonly desiredSize: number | null
  enqueue (chunk: R): void
  close (): void
  error (reason?: unknown): void
}
interface UnderlyingDefaultSource<R> {
  start? (controller: ReadableStreamDefaultController<R>): void | PromiseLike<void>
  pull? (controller: ReadableStreamDefaultController<R>): void | PromiseLike<void>
  cancel? (reason?: unknown): void | PromiseLike<void>
}
interface ReadableStreamReadResult<R> { done: boolean, value?: R }
interface ReadableStreamDefaultReader<R> {
  readonly closed: Promise<void>
  read (): Promise<ReadableStreamReadResult<R>>
  cancel (reason?: unknown): Promise<void>
  releaseLock (): void
}
declare class ReadableStream<R = unknown> {
  constructor (source?: UnderlyingDefaultSource<R>, strategy?: { highWaterMark?: number, size?: (chunk: R) => number })
  readonly locked: boolean
  getReader (): ReadableStreamDefaultReader<R>
  cancel (reason?: unknown): Promise<void>
}

/** WHATWG URL (Node >= 10, browsers, workers): parsing and canonicalising http(s) URLs. */
declare class URL {
  constructor (url: string, base?: string | URL)
  hash: string
  host: string
  hostname: string
  href: string
  readonly origin: string
  password: string
  pathname: string
  port: string
  protocol: string
  search: string
  username: string
  toString (): string
}
