/**
 * BEP 19 web seed URLs as torrents and magnets carry them, made canonical and unique.
 *
 * Real torrents repeat a mirror (once per tier-like list a creator kept), pad URLs with spaces and
 * write spaces or non-ASCII in paths raw. Each URL is trimmed and parsed as a WHATWG URL, which
 * lower-cases the scheme and host, drops a default port and percent-encodes what needs it (as
 * libtorrent does for spaces); the fragment is dropped (it never reaches a server). Only http and
 * https are kept, since that is all a web seed can be fetched over. Duplicates after that are
 * dropped, keeping the first occurrence's position.
 */

/** `raw` as a canonical http(s) URL, or null when it is not one. */
export function normalizeWebSeedUrl (raw: string): string | null {
  const text = raw.trim()
  if (!/^https?:\/\//i.test(text)) return null
  let url: URL
  try {
    url = new URL(text)
  } catch {
    return null
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.hostname === '') return null
  url.hash = ''
  return url.href
}

/** Canonical, de-duplicated http(s) web seed URLs in first-seen order. */
export function normalizeWebSeedUrls (raws: Iterable<string>): string[] {
  const out: string[] = []
  const seen = new Set<string>()
  for (const raw of raws) {
    const url = normalizeWebSeedUrl(raw)
    if (url === null || seen.has(url)) continue
    seen.add(url)
    out.push(url)
  }
  return out
}
