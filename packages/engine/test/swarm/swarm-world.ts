/**
 * Test helpers for in-memory swarms: a world of engines on one MemoryNetwork driven by a
 * ManualClock, payload and .torrent builders, a synchronous hasher (digests resolve on the
 * microtask queue, so runs do not depend on thread-pool timing), and leak checks.
 */
import { createHash } from 'node:crypto'
import { ManualClock } from '../../adapters/memory/manual-clock.js'
import { MemoryFileSystem } from '../../adapters/memory/memory-filesystem.js'
import { MemoryNetwork, type MemoryNetworkSettings } from '../../adapters/memory/memory-network.js'
import { createMemoryEngine } from '../../presets/memory.js'
import type { BtEngine } from '../../src/session/bt-engine.js'
import type { PartialEngineSettings } from '../../src/session/engine-settings.js'
import type { HashAlgorithm } from '../../src/interfaces/hasher.js'
import { seededRandom, type IRandom } from '../../src/interfaces/random.js'
import type { IHttpClient } from '../../src/interfaces/http-client.js'
import type { IFileSystem, FileOpenMode, IFileHandle, IFileStat } from '../../src/interfaces/filesystem.js'
import type { IPieceHasher } from '../../src/metainfo/create-piece-hasher.js'
import { bencodeEncode } from '../../src/protocol/bencode.js'

/** IHasher over node:crypto, resolved synchronously: deterministic under the ManualClock. */
export class SyncHasher implements IPieceHasher {
  readonly concurrency = 2
  closed = false
  async digest (algorithm: HashAlgorithm, data: Uint8Array | readonly Uint8Array[]): Promise<Uint8Array> {
    const h = createHash(algorithm)
    if (data instanceof Uint8Array) h.update(data)
    else for (const d of data) h.update(d)
    return new Uint8Array(h.digest())
  }

  async close (): Promise<void> { this.closed = true }
}

/** Deterministic pseudo-random payload. */
export function payload (lengthBytes: number, seed = 1): Uint8Array {
  const out = new Uint8Array(lengthBytes)
  seededRandom(seed).fill(out)
  return out
}

/** A single-file v1 .torrent for `data`. */
export function makeTorrent (name: string, data: Uint8Array, pieceLengthBytes: number, extra: { urlList?: string[], private?: boolean } = {}): Uint8Array {
  const pieces: Uint8Array[] = []
  for (let off = 0; off < data.length; off += pieceLengthBytes) {
    pieces.push(new Uint8Array(createHash('sha1').update(data.subarray(off, off + pieceLengthBytes)).digest()))
  }
  const joined = new Uint8Array(pieces.length * 20)
  pieces.forEach((p, i) => joined.set(p, i * 20))
  return bencodeEncode({
    announce: 'http://127.0.0.1:1/announce',
    ...(extra.urlList !== undefined ? { 'url-list': extra.urlList } : {}),
    info: { length: data.length, name, 'piece length': pieceLengthBytes, pieces: joined, ...(extra.private === true ? { private: 1 } : {}) }
  })
}

export async function writeFile (fs: IFileSystem, path: string, data: Uint8Array): Promise<void> {
  const cut = path.lastIndexOf('/')
  if (cut > 0) await fs.mkdir(path.slice(0, cut), { recursive: true })
  const h = await fs.open(path, 'w')
  await h.write(data, 0)
  await h.close()
}

export async function readFile (fs: IFileSystem, path: string): Promise<Uint8Array> {
  const st = await fs.stat(path)
  const out = new Uint8Array(st.size)
  const h = await fs.open(path, 'r')
  await h.read(out, 0)
  await h.close()
  return out
}

/** A filesystem decorator whose reads return flipped bytes while `corrupt` is true (an evil seed). */
export class CorruptingFileSystem implements IFileSystem {
  corrupt = false
  constructor (readonly inner: IFileSystem) {}
  async open (path: string, mode: FileOpenMode): Promise<IFileHandle> {
    const h = await this.inner.open(path, mode)
    return {
      read: async (buffer, position) => {
        const n = await h.read(buffer, position)
        if (this.corrupt) for (let i = 0; i < n; i += 97) buffer[i] = (buffer[i]! ^ 0x5a) & 0xff
        return n
      },
      write: async (b, p) => h.write(b, p),
      truncate: async (l) => { await h.truncate(l) },
      sync: async () => { await h.sync() },
      close: async () => { await h.close() }
    }
  }

  async stat (path: string): Promise<IFileStat> { return this.inner.stat(path) }
  async exists (path: string): Promise<boolean> { return this.inner.exists(path) }
  async mkdir (path: string, o?: { recursive?: boolean }): Promise<void> { await this.inner.mkdir(path, o) }
  async readdir (path: string): Promise<string[]> { return this.inner.readdir(path) }
  async unlink (path: string): Promise<void> { await this.inner.unlink(path) }
  async rmdir (path: string, o?: { recursive?: boolean }): Promise<void> { await this.inner.rmdir(path, o) }
  async rename (a: string, b: string): Promise<void> { await this.inner.rename(a, b) }
}

export interface SwarmNode {
  address: string
  engine: BtEngine
  fs: MemoryFileSystem
  hasher: SyncHasher
}

export class SwarmWorld {
  readonly clock = new ManualClock()
  readonly network: MemoryNetwork
  readonly nodes: SwarmNode[] = []
  private readonly random: IRandom

  constructor (readonly seed: number, network: Partial<MemoryNetworkSettings> = {}) {
    this.random = seededRandom(seed)
    this.network = new MemoryNetwork({ clock: this.clock, random: seededRandom(seed + 1) }, { latencyMs: 5, ...network })
  }

  /** An engine on host `address`, listening on port 6881 there. */
  addNode (address: string, options: { settings?: PartialEngineSettings, fs?: IFileSystem, hasher?: SyncHasher, uploadBytesPerSec?: number, downloadBytesPerSec?: number, httpClient?: IHttpClient } = {}): SwarmNode {
    const fs = new MemoryFileSystem({ clock: this.clock })
    const hasher = options.hasher ?? new SyncHasher()
    const socketFactory = this.network.host(address, {
      ...(options.uploadBytesPerSec !== undefined ? { uploadBytesPerSec: options.uploadBytesPerSec } : {}),
      ...(options.downloadBytesPerSec !== undefined ? { downloadBytesPerSec: options.downloadBytesPerSec } : {})
    })
    const engine = createMemoryEngine({
      socketFactory,
      clock: this.clock,
      fs: options.fs ?? fs,
      hasher,
      ...(options.httpClient !== undefined ? { httpClient: options.httpClient } : {}),
      random: seededRandom(Math.floor(this.random.next() * 2 ** 31)),
      settings: { ...options.settings, listen: { port: 6881, ...options.settings?.listen } }
    })
    const node = { address, engine, fs, hasher }
    this.nodes.push(node)
    return node
  }

  /** Closes every engine, then drains the clock. */
  async close (): Promise<void> {
    await Promise.all(this.nodes.map(async (n) => { await n.engine.close() }))
    await this.clock.advanceUntilIdle(60_000)
  }

  /** What is still open after close: sockets, timers, file handles. */
  leaks (): { sockets: number, timers: number, fileHandles: number } {
    return {
      sockets: this.network.openSocketCount,
      timers: this.clock.pendingTimers,
      fileHandles: this.nodes.reduce((n, node) => n + node.fs.openHandleCount, 0)
    }
  }
}
