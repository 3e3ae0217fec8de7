/**
 * Path safety for file names that come from a .torrent or from peers' metadata.
 *
 * We REFUSE unsafe paths instead of sanitizing them: a sanitized path silently differs from what the
 * publisher meant (two files can collapse onto one name), and a torrent that tries `..` is hostile
 * anyway. A refused torrent says exactly which component was wrong (`METAINFO_UNSAFE_PATH`).
 *
 * Refused components: empty, `.`, `..`, anything containing `/`, `\`, NUL or another control
 * character (U+0000–U+001F, U+007F), and anything that would be absolute on some platform (a
 * leading `/` or `\` is covered above; a Windows drive prefix such as `C:` is refused too).
 * Windows reserved names (CON, NUL…) and trailing dots are not refused here: they are only unsafe on
 * Windows, and mapping them is the Windows storage adapter's job.
 *
 * Invalid UTF-8 in names is replaced with U+FFFD by the parser (the hashes cover the raw bytes, so
 * nothing is lost for integrity); {@link assertNoPathConflicts} then refuses any two files that the
 * replacement made identical.
 */
import { LodestoneError } from '../errors.js'

/** Why `component` is unsafe as one path component, or null when it is safe. */
export function unsafeComponentReason (component: string): string | null {
  if (component.length === 0) return 'empty path component'
  if (component === '.' || component === '..') return `"${component}" path component`
  for (let i = 0; i < component.length; i++) {
    const c = component.charCodeAt(i)
    if (c === 0x2f || c === 0x5c) return 'path separator in a component'
    if (c === 0) return 'NUL in a path component'
    if (c < 0x20 || c === 0x7f) return 'control character in a path component'
  }
  if (/^[A-Za-z]:/.test(component)) return 'drive prefix (absolute on Windows)'
  return null
}

function displayPath (components: readonly string[]): string {
  return components.map((c) => JSON.stringify(c).slice(1, -1)).join('/')
}

/**
 * Checks every component of a relative path.
 * @param components the path split into components; must not be empty.
 * @throws LodestoneError `METAINFO_UNSAFE_PATH` naming the path (control characters escaped) and why.
 */
export function assertSafePath (components: readonly string[]): void {
  if (components.length === 0) {
    throw new LodestoneError('METAINFO_UNSAFE_PATH', { path: '', reason: 'empty path' })
  }
  for (const component of components) {
    const reason = unsafeComponentReason(component)
    if (reason !== null) throw new LodestoneError('METAINFO_UNSAFE_PATH', { path: displayPath(components), reason })
  }
}

/** True when every component is safe (see {@link assertSafePath}). */
export function isSafePath (components: readonly string[]): boolean {
  return components.length > 0 && components.every((c) => unsafeComponentReason(c) === null)
}

/**
 * Refuses two files with the same path, and a file whose path is also another file's directory
 * (`a` and `a/b`), since either would make one file overwrite or block another.
 * @throws LodestoneError `METAINFO_UNSAFE_PATH`.
 */
export function assertNoPathConflicts (paths: Iterable<readonly string[]>): void {
  // NUL cannot occur in a safe component, so it is an unambiguous joiner.
  const files = new Set<string>()
  const dirs = new Set<string>()
  for (const components of paths) {
    const key = components.join('\u0000')
    if (files.has(key) || dirs.has(key)) {
      throw new LodestoneError('METAINFO_UNSAFE_PATH', { path: displayPath(components), reason: files.has(key) ? 'duplicate path' : 'path is both a file and a directory' })
    }
    files.add(key)
    let prefix = ''
    for (let i = 0; i < components.length - 1; i++) {
      prefix = i === 0 ? (components[0] ?? '') : `${prefix}\u0000${components[i] ?? ''}`
      if (files.has(prefix)) {
        throw new LodestoneError('METAINFO_UNSAFE_PATH', { path: displayPath(components), reason: 'path is both a file and a directory' })
      }
      dirs.add(prefix)
    }
  }
}
