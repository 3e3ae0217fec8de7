/**
 * The directories RPC callers may put files in: the download dir and the configured storage
 * roots. A path given over RPC (`download-dir`, `location`, a `filename` on the server's disk) must
 * be absolute and lie inside one of them after symlinks are resolved — `../` tricks and a symlink
 * inside a root that points outside are both refused. The part of the path that does not exist
 * yet is judged by its nearest existing ancestor (it will be created under it).
 */
import { realpath } from 'node:fs/promises'
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path'
import { RpcError } from './rpc/rpc-types.js'

function isInside (root: string, path: string): boolean {
  const rel = relative(root, path)
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel) && rel.split(sep)[0] !== '..')
}

/** The real path of `path`: its longest existing prefix resolved through symlinks, plus the rest. */
async function realPathOf (path: string): Promise<string> {
  let existing = path
  const rest: string[] = []
  for (;;) {
    try {
      return join(await realpath(existing), ...rest.reverse())
    } catch {
      const parent = dirname(existing)
      if (parent === existing) return path
      rest.push(existing.slice(parent.length).replace(/^[/\\]+/, ''))
      existing = parent
    }
  }
}

export class StorageRoots {
  private roots: string[] = []

  constructor (roots: readonly string[]) {
    this.set(roots)
  }

  /** Replaces the list (a config reload). */
  set (roots: readonly string[]): void {
    this.roots = [...new Set(roots.map((r) => resolve(r)))]
  }

  list (): string[] {
    return [...this.roots]
  }

  /**
   * The confined absolute form of `path`.
   * @throws RpcError when it is relative, has a NUL, or leaves every root.
   */
  async confine (path: string, what = 'path'): Promise<string> {
    if (path === '' || path.includes('\0')) throw new RpcError(`${what} is empty or invalid`)
    if (!isAbsolute(path)) throw new RpcError(`${what} must be an absolute path`)
    const normal = resolve(path)
    const real = await realPathOf(normal)
    for (const root of this.roots) {
      if (!isInside(root, normal)) continue
      const realRoot = await realPathOf(root)
      if (isInside(realRoot, real)) return normal
    }
    throw new RpcError(`${what} ${path} is outside the allowed storage roots`)
  }
}
