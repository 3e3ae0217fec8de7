/**
 * The IPv6 literal grammar, shared by the compact-peer codec (bytes) and the IP filter (128-bit
 * numbers); they differ only in how strict the dotted quad is, so that part is passed in.
 */

/**
 * The eight 16-bit groups of an IPv6 literal (`::` compression, an optional trailing dotted quad
 * read by `parseIpv4`), or null when `text` is not one. No brackets, no zone id.
 */
export function parseIpv6Groups (text: string, parseIpv4: (text: string) => number | null): number[] | null {
  if (text.length < 2 || text.length > 45) return null
  let head = text
  let tail: number | null = null
  const lastColon = text.lastIndexOf(':')
  if (lastColon >= 0 && text.slice(lastColon + 1).includes('.')) {
    tail = parseIpv4(text.slice(lastColon + 1))
    if (tail === null) return null
    head = text.slice(0, lastColon + 1) + '0:0' // placeholder groups, overwritten below
  }
  const doubleColon = head.indexOf('::')
  if (doubleColon >= 0 && head.indexOf('::', doubleColon + 1) >= 0) return null
  let groups: number[]
  if (doubleColon >= 0) {
    const left = hexGroups(head.slice(0, doubleColon))
    const right = hexGroups(head.slice(doubleColon + 2))
    if (left === null || right === null || left.length + right.length > 7) return null
    groups = [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right]
  } else {
    const all = hexGroups(head)
    if (all === null || all.length !== 8) return null
    groups = all
  }
  if (tail !== null) {
    groups[6] = Math.floor(tail / 0x1_0000)
    groups[7] = tail & 0xffff
  }
  return groups
}

function hexGroups (s: string): number[] | null {
  if (s === '') return []
  const out: number[] = []
  for (const g of s.split(':')) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null
    out.push(parseInt(g, 16))
  }
  return out
}
