/**
 * Stats of many files at once: what a restore's fast-resume stamps and a data check's "which
 * files are there" need. Uses the filesystem's batch `statMany` where it has one (Node: one async
 * stat per file costs more than the stat itself), else one `stat` per path, all in flight.
 */
import { isLodestoneError } from '../errors.js'
import type { IFileStat, IFileSystem } from '../interfaces/filesystem.js'

/** The stat of each path, null for one that does not exist (STORAGE_NOT_FOUND); other failures throw. */
export async function statFiles (fs: IFileSystem, paths: readonly string[]): Promise<Array<IFileStat | null>> {
  if (paths.length === 0) return []
  if (fs.statMany !== undefined) return fs.statMany(paths)
  return Promise.all(paths.map(async (path): Promise<IFileStat | null> => {
    try {
      return await fs.stat(path)
    } catch (error) {
      if (isLodestoneError(error) && error.code === 'STORAGE_NOT_FOUND') return null
      throw error
    }
  }))
}
