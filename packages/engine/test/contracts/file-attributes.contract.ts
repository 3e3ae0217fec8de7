/**
 * The optional BEP 47 methods of IFileSystem (`symlink`, `setAttributes`), for the adapters that
 * implement them (memory, Node). `inspect` reads back what is at a path the adapter's own way.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { IFileSystem } from '../../src/interfaces/filesystem.js'
import { codeOf } from './filesystem.contract.js'

export type EntryView = { kind: 'file', executable: boolean } | { kind: 'dir' } | { kind: 'link', target: string } | { kind: 'missing' }

export interface FileAttributesFixture {
  fs: IFileSystem
  inspect: (path: string) => Promise<EntryView>
  cleanup?: () => Promise<void>
}

async function touch (fs: IFileSystem, path: string, data = new Uint8Array([1, 2, 3])): Promise<void> {
  const h = await fs.open(path, 'w')
  await h.write(data, 0)
  await h.close()
}

export function runFileAttributesContract (name: string, make: () => Promise<FileAttributesFixture>): void {
  describe(`IFileSystem BEP 47 methods: ${name}`, () => {
    let fx: FileAttributesFixture
    let fs: IFileSystem
    beforeEach(async () => {
      fx = await make()
      fs = fx.fs
    })
    afterEach(async () => { await fx.cleanup?.() })

    it('creates relative links, and leaves whatever is already at the path', async () => {
      await fs.mkdir('t/docs', { recursive: true })
      await touch(fs, 't/docs/README.txt')
      await fs.symlink!('docs/README.txt', 't/README')
      await fs.symlink!('../docs/README.txt', 't/docs/up')
      expect(await fx.inspect('t/README')).toEqual({ kind: 'link', target: 'docs/README.txt' })
      expect(await fx.inspect('t/docs/up')).toEqual({ kind: 'link', target: '../docs/README.txt' })
      expect(await fs.readdir('t')).toEqual(['README', 'docs'])
      // A second run, and a user's own file where a link would go: both left alone.
      await fs.symlink!('elsewhere', 't/README')
      expect(await fx.inspect('t/README')).toEqual({ kind: 'link', target: 'docs/README.txt' })
      await touch(fs, 't/mine')
      await fs.symlink!('docs/README.txt', 't/mine')
      expect(await fx.inspect('t/mine')).toEqual({ kind: 'file', executable: false })
      // Removing a link removes the link, not its target.
      await fs.unlink('t/README')
      expect(await fx.inspect('t/README')).toEqual({ kind: 'missing' })
      expect((await fx.inspect('t/docs/README.txt')).kind).toBe('file')
    })

    it('refuses links that would resolve outside the root, creating nothing', async () => {
      await fs.mkdir('t/d', { recursive: true })
      for (const target of ['../../../x', '../../../etc/passwd', '/etc/passwd', '../..', 'a/../../../..']) {
        expect(await codeOf(fs.symlink!(target, 't/d/link')), target).toBe('STORAGE_IO')
        expect(await fx.inspect('t/d/link'), target).toEqual({ kind: 'missing' })
      }
      expect(await codeOf(fs.symlink!('x', 'missing-dir/link'))).toBe('STORAGE_NOT_FOUND')
    })

    it('makes files executable and never the other way round', async () => {
      await touch(fs, 'run.sh')
      expect(await fx.inspect('run.sh')).toEqual({ kind: 'file', executable: false })
      await fs.setAttributes!('run.sh', { executable: true, hidden: true })
      expect(await fx.inspect('run.sh')).toEqual({ kind: 'file', executable: true })
      await fs.setAttributes!('run.sh', { executable: false })
      expect(await fx.inspect('run.sh')).toEqual({ kind: 'file', executable: true })
      expect(await codeOf(fs.setAttributes!('none', { executable: true }))).toBe('STORAGE_NOT_FOUND')
    })

    it('never changes the mode of a link target through the link', async () => {
      await touch(fs, 'data.bin')
      await fs.symlink!('data.bin', 'link')
      expect(await codeOf(fs.setAttributes!('link', { executable: true }))).toBe('STORAGE_IO')
      expect(await fx.inspect('data.bin')).toEqual({ kind: 'file', executable: false })
    })
  })
}
