/**
 * The dedicated worker behind {@link OpfsFileSystem}'s fast path. OPFS sync access handles
 * (`createSyncAccessHandle`, positional read/write without a copy-on-write swap file) exist only
 * in dedicated workers, so file I/O is forwarded here.
 *
 * The worker's code is {@link opfsWorkerMain}, started from a Blob URL made of its source text:
 * the bundle stays one file and needs no worker URL. It must therefore reference nothing outside
 * its own body but web globals (no imports, no helpers).
 *
 * Protocol (structured clone; buffers transferred): request `{ id, op, ... }`, answer
 * `{ id, ok: true, value }` or `{ id, ok: false, name, message }` where `name` is the DOMException
 * name the main thread maps to a storage error code.
 * A sync access handle locks its file, so the worker opens one per file and counts the main
 * thread's handles on it.
 */

/** Messages understood by the worker. */
export type OpfsWorkerRequest =
  | { id: number, op: 'probe' }
  | { id: number, op: 'open', root: string[], path: string[], create: boolean, truncate: boolean }
  | { id: number, op: 'read', file: number, position: number, length: number }
  | { id: number, op: 'write', file: number, position: number, data: ArrayBuffer }
  | { id: number, op: 'truncate', file: number, length: number }
  | { id: number, op: 'size', file: number }
  | { id: number, op: 'flush', file: number }
  | { id: number, op: 'close', file: number }

export type OpfsWorkerAnswer =
  | { id: number, ok: true, value: unknown }
  | { id: number, ok: false, name: string, message: string }

/** The worker's whole program (runs in the worker's global scope). */
export function opfsWorkerMain (): void {
  interface SyncHandle {
    read: (buffer: Uint8Array, options: { at: number }) => number
    write: (buffer: Uint8Array, options: { at: number }) => number
    truncate: (size: number) => void
    getSize: () => number
    flush: () => void
    close: () => void
  }
  interface Open { handle: SyncHandle, key: string, refs: number }
  const scope = self as unknown as {
    onmessage: ((ev: { data: OpfsWorkerRequest }) => void) | null
    postMessage: (message: unknown, transfer?: Transferable[]) => void
  }
  const byKey = new Map<string, Open>()
  const byId = new Map<number, Open>()
  let nextFile = 1

  async function dirOf (root: string[], segments: string[]): Promise<FileSystemDirectoryHandle> {
    let dir = await navigator.storage.getDirectory()
    for (const s of root) dir = await dir.getDirectoryHandle(s, { create: true })
    for (const s of segments) dir = await dir.getDirectoryHandle(s)
    return dir
  }

  async function run (m: OpfsWorkerRequest): Promise<{ value: unknown, transfer?: Transferable[] }> {
    switch (m.op) {
      case 'probe':
        return { value: typeof FileSystemFileHandle !== 'undefined' && 'createSyncAccessHandle' in FileSystemFileHandle.prototype }
      case 'open': {
        const key = [...m.root, '', ...m.path].join('/')
        let open = byKey.get(key)
        if (open === undefined) {
          const name = m.path[m.path.length - 1] ?? ''
          const dir = await dirOf(m.root, m.path.slice(0, -1))
          const fh = await dir.getFileHandle(name, { create: m.create })
          const handle = await (fh as unknown as { createSyncAccessHandle: () => Promise<SyncHandle> }).createSyncAccessHandle()
          open = { handle, key, refs: 0 }
          byKey.set(key, open)
        }
        if (m.truncate) open.handle.truncate(0)
        open.refs++
        const file = nextFile++
        byId.set(file, open)
        return { value: file }
      }
      case 'read': case 'write': case 'truncate': case 'size': case 'flush': case 'close': {
        const open = byId.get(m.file)
        if (open === undefined) throw new DOMException('file handle closed', 'InvalidStateError')
        const h = open.handle
        switch (m.op) {
          case 'read': {
            const buf = new Uint8Array(m.length)
            const n = h.read(buf, { at: m.position })
            return { value: { buffer: buf.buffer, n }, transfer: [buf.buffer] }
          }
          case 'write': {
            const data = new Uint8Array(m.data)
            let done = 0
            while (done < data.length) {
              const n = h.write(data.subarray(done), { at: m.position + done })
              if (n <= 0) throw new DOMException('short write', 'QuotaExceededError')
              done += n
            }
            return { value: done }
          }
          case 'truncate': h.truncate(m.length); return { value: null }
          case 'size': return { value: h.getSize() }
          case 'flush': h.flush(); return { value: null }
          case 'close': {
            byId.delete(m.file)
            open.refs--
            if (open.refs <= 0) {
              byKey.delete(open.key)
              h.flush()
              h.close()
            }
            return { value: null }
          }
        }
      }
    }
  }

  scope.onmessage = (ev) => {
    const m = ev.data
    run(m).then(({ value, transfer }) => {
      scope.postMessage({ id: m.id, ok: true, value }, transfer ?? [])
    }, (err: unknown) => {
      const e = err as { name?: unknown, message?: unknown }
      scope.postMessage({ id: m.id, ok: false, name: typeof e?.name === 'string' ? e.name : 'Error', message: typeof e?.message === 'string' ? e.message : String(err) })
    })
  }
}
