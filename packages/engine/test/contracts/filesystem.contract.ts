/**
 * The IFileSystem contract (STYLE.md §10): every adapter's test calls
 * `runFileSystemContract(name, make)`, so the memory and the Node filesystems cannot drift apart.
 */
import fc from 'fast-check'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { hasCode, type ErrorCode } from '../../src/errors.js'
import type { IFileSystem } from '../../src/interfaces/filesystem.js'

export interface FileSystemFixture {
  fs: IFileSystem
  /** Handles still open, when the adapter can tell (checked to be 0 after each test). */
  openHandleCount?: () => number
  cleanup?: () => Promise<void>
}

const enc = new TextEncoder()
const dec = new TextDecoder()

/** Resolves with the error's code, or fails the test when nothing (or something untyped) is thrown. */
export async function codeOf (promise: Promise<unknown>): Promise<ErrorCode> {
  try {
    await promise
  } catch (err) {
    const code = (err as { code?: unknown }).code
    if (typeof code !== 'string') throw new Error(`expected a LodestoneError, got ${String(err)}`)
    return code as ErrorCode
  }
  throw new Error('expected the operation to fail')
}

function pattern (length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length)
  for (let i = 0; i < length; i++) out[i] = (i * 31 + seed * 7) & 0xff
  return out
}

async function readAll (fs: IFileSystem, path: string): Promise<Uint8Array> {
  const size = (await fs.stat(path)).size
  const handle = await fs.open(path, 'r')
  try {
    const out = new Uint8Array(size)
    const n = await handle.read(out, 0)
    expect(n).toBe(size)
    return out
  } finally {
    await handle.close()
  }
}

async function writeFile (fs: IFileSystem, path: string, data: Uint8Array): Promise<void> {
  const handle = await fs.open(path, 'w')
  try {
    await handle.write(data, 0)
  } finally {
    await handle.close()
  }
}

export function runFileSystemContract (name: string, make: () => Promise<FileSystemFixture>): void {
  describe(`IFileSystem contract: ${name}`, () => {
    let fixture: FileSystemFixture
    let fs: IFileSystem

    beforeEach(async () => {
      fixture = await make()
      fs = fixture.fs
    })

    afterEach(async () => {
      const open = fixture.openHandleCount?.()
      await fixture.cleanup?.()
      if (open !== undefined) expect(open, 'file handles left open').toBe(0)
    })

    describe('open modes', () => {
      it("'r' on a missing file throws STORAGE_NOT_FOUND", async () => {
        expect(await codeOf(fs.open('missing.bin', 'r'))).toBe('STORAGE_NOT_FOUND')
        expect(await fs.exists('missing.bin')).toBe(false)
      })

      it("'r+' creates a missing file empty", async () => {
        const handle = await fs.open('new.bin', 'r+')
        await handle.close()
        expect(await fs.stat('new.bin')).toMatchObject({ size: 0, isFile: true, isDirectory: false })
      })

      it("'r+' keeps the content of an existing file", async () => {
        await writeFile(fs, 'a.bin', enc.encode('hello world'))
        const handle = await fs.open('a.bin', 'r+')
        await handle.write(enc.encode('J'), 0)
        await handle.close()
        expect(dec.decode(await readAll(fs, 'a.bin'))).toBe('Jello world')
      })

      it("'w' truncates an existing file", async () => {
        await writeFile(fs, 'a.bin', enc.encode('hello world'))
        const handle = await fs.open('a.bin', 'w')
        expect((await fs.stat('a.bin')).size).toBe(0)
        await handle.write(enc.encode('hi'), 0)
        await handle.close()
        expect(dec.decode(await readAll(fs, 'a.bin'))).toBe('hi')
      })

      it("'w' and 'r+' can read back what they wrote", async () => {
        for (const mode of ['w', 'r+'] as const) {
          const handle = await fs.open(`rw-${mode}.bin`, mode)
          await handle.write(enc.encode('abc'), 0)
          const out = new Uint8Array(3)
          expect(await handle.read(out, 0)).toBe(3)
          expect(dec.decode(out)).toBe('abc')
          await handle.close()
        }
      })

      it("writing or truncating through an 'r' handle throws STORAGE_IO", async () => {
        await writeFile(fs, 'ro.bin', enc.encode('data'))
        const handle = await fs.open('ro.bin', 'r')
        expect(await codeOf(handle.write(enc.encode('x'), 0))).toBe('STORAGE_IO')
        expect(await codeOf(handle.truncate(0))).toBe('STORAGE_IO')
        await handle.close()
        expect(dec.decode(await readAll(fs, 'ro.bin'))).toBe('data')
      })

      it('opening below a missing directory throws STORAGE_NOT_FOUND for every mode', async () => {
        for (const mode of ['r', 'r+', 'w'] as const) {
          expect(await codeOf(fs.open('no/such/dir/f.bin', mode))).toBe('STORAGE_NOT_FOUND')
        }
        expect(await fs.exists('no')).toBe(false)
      })

      it('opening a directory for writing, or below a file, throws STORAGE_IO', async () => {
        await fs.mkdir('dir')
        await writeFile(fs, 'file', enc.encode('x'))
        expect(await codeOf(fs.open('dir', 'w'))).toBe('STORAGE_IO')
        expect(await codeOf(fs.open('dir', 'r+'))).toBe('STORAGE_IO')
        expect(await codeOf(fs.open('dir', 'r'))).toBe('STORAGE_IO')
        expect(await codeOf(fs.open('file/child', 'r+'))).toBe('STORAGE_IO')
      })
    })

    describe('positional reads and writes', () => {
      it('reads return the count read, less at the end of the file, 0 beyond it', async () => {
        await writeFile(fs, 'f.bin', pattern(100))
        const handle = await fs.open('f.bin', 'r')
        const buf = new Uint8Array(64)
        expect(await handle.read(buf, 0)).toBe(64)
        expect(buf).toEqual(pattern(100).subarray(0, 64))
        expect(await handle.read(buf, 60)).toBe(40)
        expect(buf.subarray(0, 40)).toEqual(pattern(100).subarray(60))
        expect(await handle.read(buf, 100)).toBe(0)
        expect(await handle.read(buf, 5000)).toBe(0)
        expect(await handle.read(new Uint8Array(0), 0)).toBe(0)
        await handle.close()
      })

      it('a write beyond the end zero-fills the gap', async () => {
        const handle = await fs.open('sparse.bin', 'r+')
        await handle.write(enc.encode('head'), 0)
        expect(await handle.write(enc.encode('tail'), 100_000)).toBe(4)
        expect((await fs.stat('sparse.bin')).size).toBe(100_004)
        const all = new Uint8Array(100_004)
        expect(await handle.read(all, 0)).toBe(100_004)
        expect(dec.decode(all.subarray(0, 4))).toBe('head')
        expect(all.subarray(4, 100_000).every((b) => b === 0)).toBe(true)
        expect(dec.decode(all.subarray(100_000))).toBe('tail')
        await handle.close()
      })

      it('an empty write does not grow the file', async () => {
        const handle = await fs.open('e.bin', 'w')
        expect(await handle.write(new Uint8Array(0), 1000)).toBe(0)
        expect((await fs.stat('e.bin')).size).toBe(0)
        await handle.close()
      })

      it('large unaligned writes round-trip (crossing internal chunk boundaries)', async () => {
        const data = pattern(300_000, 3)
        const handle = await fs.open('big.bin', 'w')
        await handle.write(data, 65_530)
        await handle.write(pattern(10, 9), 131_070)
        const expected = new Uint8Array(365_530)
        expected.set(data, 65_530)
        expected.set(pattern(10, 9), 131_070)
        const out = new Uint8Array(365_530)
        expect(await handle.read(out, 0)).toBe(365_530)
        expect(Buffer.from(out).equals(Buffer.from(expected))).toBe(true)
        await handle.close()
      })

      it('truncate shrinks and grows; grown bytes are zero (old data is not resurrected)', async () => {
        const handle = await fs.open('t.bin', 'w')
        await handle.write(pattern(200_000), 0)
        await handle.truncate(70_000)
        expect((await fs.stat('t.bin')).size).toBe(70_000)
        await handle.truncate(150_000)
        expect((await fs.stat('t.bin')).size).toBe(150_000)
        const out = new Uint8Array(150_000)
        expect(await handle.read(out, 0)).toBe(150_000)
        expect(Buffer.from(out.subarray(0, 70_000)).equals(Buffer.from(pattern(200_000).subarray(0, 70_000)))).toBe(true)
        expect(out.subarray(70_000).every((b) => b === 0)).toBe(true)
        await handle.truncate(0)
        expect((await fs.stat('t.bin')).size).toBe(0)
        await handle.close()
      })

      it('a write does not keep a reference to the caller\'s buffer', async () => {
        const handle = await fs.open('own.bin', 'w')
        const data = enc.encode('abcd')
        await handle.write(data, 0)
        data.fill(0x7a)
        const out = new Uint8Array(4)
        await handle.read(out, 0)
        expect(dec.decode(out)).toBe('abcd')
        await handle.close()
      })

      it('negative or fractional positions throw STORAGE_IO', async () => {
        const handle = await fs.open('pos.bin', 'w')
        expect(await codeOf(handle.write(enc.encode('x'), -1))).toBe('STORAGE_IO')
        expect(await codeOf(handle.read(new Uint8Array(1), 1.5))).toBe('STORAGE_IO')
        await handle.close()
      })

      it('two handles on one file see each other\'s writes', async () => {
        const a = await fs.open('shared.bin', 'r+')
        const b = await fs.open('shared.bin', 'r+')
        await a.write(enc.encode('from-a'), 0)
        await b.write(enc.encode('from-b'), 6)
        const out = new Uint8Array(12)
        expect(await a.read(out, 0)).toBe(12)
        expect(dec.decode(out)).toBe('from-afrom-b')
        await a.close()
        await b.close()
      })

      it('sync succeeds on an open handle', async () => {
        const handle = await fs.open('s.bin', 'w')
        await handle.write(enc.encode('x'), 0)
        await handle.sync()
        await handle.close()
      })

      it('close is idempotent; using a closed handle throws STORAGE_IO', async () => {
        const handle = await fs.open('c.bin', 'w')
        await handle.close()
        await handle.close()
        expect(await codeOf(handle.read(new Uint8Array(1), 0))).toBe('STORAGE_IO')
        expect(await codeOf(handle.write(enc.encode('x'), 0))).toBe('STORAGE_IO')
        expect(await codeOf(handle.truncate(0))).toBe('STORAGE_IO')
        expect(await codeOf(handle.sync())).toBe('STORAGE_IO')
      })

      it('an unlinked file stays usable through a handle opened before', async () => {
        const handle = await fs.open('gone.bin', 'w')
        await handle.write(enc.encode('still here'), 0)
        await fs.unlink('gone.bin')
        expect(await fs.exists('gone.bin')).toBe(false)
        await handle.write(enc.encode('!'), 10)
        const out = new Uint8Array(11)
        expect(await handle.read(out, 0)).toBe(11)
        expect(dec.decode(out)).toBe('still here!')
        await handle.close()
      })

      it('matches a simple model over random writes, truncates and reads', async () => {
        const op = fc.oneof(
          fc.record({ kind: fc.constant('write' as const), pos: fc.integer({ min: 0, max: 140_000 }), len: fc.integer({ min: 0, max: 70_000 }), seed: fc.nat(255) }),
          fc.record({ kind: fc.constant('truncate' as const), len: fc.integer({ min: 0, max: 200_000 }) }),
          fc.record({ kind: fc.constant('read' as const), pos: fc.integer({ min: 0, max: 220_000 }), len: fc.integer({ min: 0, max: 80_000 }) })
        )
        let run = 0
        await fc.assert(fc.asyncProperty(fc.array(op, { maxLength: 12 }), async (ops) => {
          const path = `model-${run++}.bin`
          let model = new Uint8Array(0)
          const handle = await fs.open(path, 'w')
          try {
            for (const o of ops) {
              if (o.kind === 'write') {
                const data = pattern(o.len, o.seed)
                await handle.write(data, o.pos)
                if (o.len > 0) {
                  const grown = new Uint8Array(Math.max(model.length, o.pos + o.len))
                  grown.set(model)
                  grown.set(data, o.pos)
                  model = grown
                }
              } else if (o.kind === 'truncate') {
                await handle.truncate(o.len)
                const resized = new Uint8Array(o.len)
                resized.set(model.subarray(0, o.len))
                model = resized
              } else {
                const out = new Uint8Array(o.len)
                const n = await handle.read(out, o.pos)
                const expected = model.subarray(Math.min(o.pos, model.length), Math.min(o.pos + o.len, model.length))
                expect(n).toBe(expected.length)
                expect(Buffer.from(out.subarray(0, n)).equals(Buffer.from(expected))).toBe(true)
              }
            }
            expect((await fs.stat(path)).size).toBe(model.length)
          } finally {
            await handle.close()
          }
          await fs.unlink(path)
        }), { numRuns: 25, seed: 42 })
      })
    })

    describe('directories', () => {
      it('mkdir without recursive needs the parent; with recursive it creates parents', async () => {
        expect(await codeOf(fs.mkdir('a/b'))).toBe('STORAGE_NOT_FOUND')
        await fs.mkdir('a/b/c', { recursive: true })
        expect(await fs.stat('a/b/c')).toMatchObject({ isDirectory: true, isFile: false })
        await fs.mkdir('a')
        await fs.mkdir('a/b/c', { recursive: true })
        await fs.mkdir('a/d')
        expect(await fs.readdir('a')).toEqual(['b', 'd'])
      })

      it('mkdir over a file throws STORAGE_IO', async () => {
        await writeFile(fs, 'f', enc.encode('x'))
        expect(await codeOf(fs.mkdir('f'))).toBe('STORAGE_IO')
        expect(await codeOf(fs.mkdir('f', { recursive: true }))).toBe('STORAGE_IO')
        expect(await codeOf(fs.mkdir('f/g', { recursive: true }))).toBe('STORAGE_IO')
      })

      it('readdir returns sorted names; missing → STORAGE_NOT_FOUND; a file → STORAGE_IO', async () => {
        await fs.mkdir('d')
        for (const n of ['zeta', 'alpha', 'Beta', 'mid']) await writeFile(fs, `d/${n}`, enc.encode(n))
        await fs.mkdir('d/sub')
        expect(await fs.readdir('d')).toEqual(['Beta', 'alpha', 'mid', 'sub', 'zeta'])
        expect(await codeOf(fs.readdir('nope'))).toBe('STORAGE_NOT_FOUND')
        expect(await codeOf(fs.readdir('d/alpha'))).toBe('STORAGE_IO')
      })

      it('the root is the empty path', async () => {
        await writeFile(fs, 'top.bin', enc.encode('x'))
        expect(await fs.readdir('')).toContain('top.bin')
        expect((await fs.stat('')).isDirectory).toBe(true)
        expect(await fs.exists('')).toBe(true)
      })

      it('stat reports size, type and an mtime; missing → STORAGE_NOT_FOUND', async () => {
        await writeFile(fs, 'five', enc.encode('12345'))
        const s = await fs.stat('five')
        expect(s).toMatchObject({ size: 5, isFile: true, isDirectory: false })
        expect(s.mtimeMs).toBeGreaterThan(0)
        expect(await codeOf(fs.stat('nothing'))).toBe('STORAGE_NOT_FOUND')
        expect(await fs.exists('five')).toBe(true)
        expect(await fs.exists('five/below')).toBe(false)
      })

      it('unlink removes files only', async () => {
        await fs.mkdir('dir')
        await writeFile(fs, 'dir/f', enc.encode('x'))
        expect(await codeOf(fs.unlink('dir'))).toBe('STORAGE_IO')
        await fs.unlink('dir/f')
        expect(await fs.exists('dir/f')).toBe(false)
        expect(await codeOf(fs.unlink('dir/f'))).toBe('STORAGE_NOT_FOUND')
      })

      it('rmdir removes empty directories; recursive removes trees; files and missing paths are refused', async () => {
        await fs.mkdir('t/u/v', { recursive: true })
        await writeFile(fs, 't/u/v/f', enc.encode('x'))
        await writeFile(fs, 't/file', enc.encode('x'))
        expect(await codeOf(fs.rmdir('t'))).toBe('STORAGE_IO')
        expect(await codeOf(fs.rmdir('t/file'))).toBe('STORAGE_IO')
        expect(await codeOf(fs.rmdir('t/file', { recursive: true }))).toBe('STORAGE_IO')
        expect(await fs.exists('t/file')).toBe(true)
        expect(await codeOf(fs.rmdir('missing'))).toBe('STORAGE_NOT_FOUND')
        expect(await codeOf(fs.rmdir('missing', { recursive: true }))).toBe('STORAGE_NOT_FOUND')
        await fs.mkdir('t/empty')
        await fs.rmdir('t/empty')
        expect(await fs.exists('t/empty')).toBe(false)
        await fs.rmdir('t', { recursive: true })
        expect(await fs.exists('t')).toBe(false)
      })
    })

    describe('rename', () => {
      it('replaces an existing file in one step', async () => {
        await writeFile(fs, 'old', enc.encode('old content'))
        await writeFile(fs, 'new.tmp', enc.encode('new'))
        await fs.rename('new.tmp', 'old')
        expect(dec.decode(await readAll(fs, 'old'))).toBe('new')
        expect(await fs.exists('new.tmp')).toBe(false)
      })

      it('moves files across directories and whole directories', async () => {
        await fs.mkdir('src/deep', { recursive: true })
        await fs.mkdir('dst')
        await writeFile(fs, 'src/deep/f', enc.encode('payload'))
        await fs.rename('src/deep/f', 'dst/g')
        expect(dec.decode(await readAll(fs, 'dst/g'))).toBe('payload')
        await fs.rename('dst', 'moved')
        expect(await fs.readdir('moved')).toEqual(['g'])
        expect(await fs.exists('dst')).toBe(false)
        await fs.rename('moved/g', 'moved/g')
        expect(await fs.exists('moved/g')).toBe(true)
      })

      it('a missing source or target parent throws STORAGE_NOT_FOUND', async () => {
        await writeFile(fs, 'f', enc.encode('x'))
        expect(await codeOf(fs.rename('absent', 'f2'))).toBe('STORAGE_NOT_FOUND')
        expect(await codeOf(fs.rename('f', 'no/dir/f'))).toBe('STORAGE_NOT_FOUND')
        expect(await fs.exists('f')).toBe(true)
      })

      it('refuses file onto directory, directory onto file or non-empty directory, directory into itself', async () => {
        await fs.mkdir('d1/inner', { recursive: true })
        await fs.mkdir('d2')
        await writeFile(fs, 'd2/x', enc.encode('x'))
        await writeFile(fs, 'f', enc.encode('f'))
        expect(await codeOf(fs.rename('f', 'd1'))).toBe('STORAGE_IO')
        expect(await codeOf(fs.rename('d1', 'f'))).toBe('STORAGE_IO')
        expect(await codeOf(fs.rename('d1', 'd2'))).toBe('STORAGE_IO')
        expect(await codeOf(fs.rename('d1', 'd1/inner/d1'))).toBe('STORAGE_IO')
        expect(await fs.readdir('d1')).toEqual(['inner'])
      })
    })

    describe('moveTo (optional: moving storage between roots)', () => {
      let other: FileSystemFixture | null = null
      afterEach(async () => {
        await other?.cleanup?.()
        other = null
      })

      it('moves a file into another root of the same adapter, replacing the target; false for a foreign filesystem', async () => {
        if (fs.moveTo === undefined) {
          expect(fs.moveTo).toBeUndefined() // the port makes it optional: callers copy instead
          return
        }
        other = await make()
        const dst = other.fs
        await fs.mkdir('a/b', { recursive: true })
        await writeFile(fs, 'a/b/f', pattern(70_000, 9))
        await dst.mkdir('x', { recursive: true })
        await writeFile(dst, 'x/f', enc.encode('old'))
        expect(await fs.moveTo('a/b/f', dst, 'x/f')).toBe(true)
        expect(await fs.exists('a/b/f')).toBe(false)
        expect(Buffer.compare(await readAll(dst, 'x/f'), pattern(70_000, 9))).toBe(0)
        // A filesystem of another kind: nothing moves, the caller copies.
        const foreign: IFileSystem = {
          open: async (p, m) => dst.open(p, m),
          stat: async (p) => dst.stat(p),
          exists: async (p) => dst.exists(p),
          mkdir: async (p, o) => { await dst.mkdir(p, o) },
          readdir: async (p) => dst.readdir(p),
          unlink: async (p) => { await dst.unlink(p) },
          rmdir: async (p, o) => { await dst.rmdir(p, o) },
          rename: async (a, b) => { await dst.rename(a, b) }
        }
        await writeFile(fs, 'g', enc.encode('stay'))
        expect(await fs.moveTo('g', foreign, 'g')).toBe(false)
        expect(dec.decode(await readAll(fs, 'g'))).toBe('stay')
        expect(await dst.exists('g')).toBe(false)
      })

      it('a missing source or target directory throws STORAGE_NOT_FOUND and moves nothing', async () => {
        if (fs.moveTo === undefined) {
          expect(fs.moveTo).toBeUndefined()
          return
        }
        other = await make()
        await writeFile(fs, 'f', enc.encode('x'))
        expect(await codeOf(fs.moveTo('absent', other.fs, 'f'))).toBe('STORAGE_NOT_FOUND')
        expect(await codeOf(fs.moveTo('f', other.fs, 'no/dir/f'))).toBe('STORAGE_NOT_FOUND')
        expect(await fs.exists('f')).toBe(true)
        await fs.mkdir('d')
        expect(await codeOf(fs.moveTo('d', other.fs, 'd'))).toBe('STORAGE_IO')
      })
    })

    describe('paths', () => {
      it("normalizes '.', empty segments and a leading '/'", async () => {
        await fs.mkdir('p/q', { recursive: true })
        await writeFile(fs, './p//q/./f', enc.encode('x'))
        expect(await fs.exists('p/q/f')).toBe(true)
        expect(await fs.exists('/p/q/f')).toBe(true)
        expect(await fs.exists('p/q/../q/f')).toBe(true)
      })

      it('refuses paths that escape the root with STORAGE_IO', async () => {
        for (const bad of ['../x', 'a/../../x', '..', 'a/b/../../../etc/passwd']) {
          const code: ErrorCode = await codeOf(fs.open(bad, 'r+'))
          expect(code, bad).toBe('STORAGE_IO')
          expect(await codeOf(fs.stat(bad))).toBe('STORAGE_IO')
          expect(await codeOf(fs.exists(bad))).toBe('STORAGE_IO')
        }
        expect(await codeOf(fs.mkdir('../outside', { recursive: true }))).toBe('STORAGE_IO')
        expect(await codeOf(fs.open('nul\0byte', 'r+'))).toBe('STORAGE_IO')
      })

      it('keeps unusual but legal names', async () => {
        const names = ['space name.bin', 'ünïcødé-名前.txt', '#hash%percent', '-dash']
        for (const n of names) await writeFile(fs, n, enc.encode(n))
        const listed = await fs.readdir('')
        for (const n of names) {
          expect(listed).toContain(n)
          expect(dec.decode(await readAll(fs, n))).toBe(n)
        }
      })
    })

    it('errors are LodestoneErrors carrying the path', async () => {
      try {
        await fs.stat('where/is/it')
        expect.unreachable()
      } catch (err) {
        expect(hasCode(err, 'STORAGE_NOT_FOUND')).toBe(true)
        expect((err as { details: { path: string } }).details.path).toBe('where/is/it')
      }
    })
  })
}
