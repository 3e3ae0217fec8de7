/**
 * libtorrent peers for discovery interop tests (peer exchange, trackers): the session of
 * libtorrent-peer.ts as a plain downloader (no high-performance-seed settings), and the content
 * and tracker helpers those tests share.
 */
import { join } from 'node:path'
import { runLibtorrent } from './libtorrent.js'
import { startLibtorrentPeer, type LibtorrentPeer, type LibtorrentPeerOptions, type LibtorrentStatus } from './libtorrent-peer.js'

export type SwarmPeer = LibtorrentPeer
export type SwarmPeerStatus = LibtorrentStatus
export type SwarmPeerOptions = Omit<LibtorrentPeerOptions, 'mode'>

/** Starts a session and resolves once it listens; a missing binding rejects (never a skip). */
export async function startSwarmPeer (options: SwarmPeerOptions): Promise<SwarmPeer> {
  return startLibtorrentPeer({ ...options, mode: 'download' })
}

/** Random content in `dir/payload.bin` and a v1 .torrent for it made by libtorrent. */
export async function makeContent (dir: string, sizeBytes: number, trackers: string[] = []): Promise<{ torrentPath: string, infoHash: string }> {
  const torrentPath = join(dir, 'payload.torrent')
  const out = await runLibtorrent<{ infoHash: string }>(`
import os
path = os.path.join(INPUT['dir'], 'payload.bin')
with open(path, 'wb') as f:
    f.write(os.urandom(INPUT['size']))
fs = lt.file_storage()
lt.add_files(fs, path)
ct = lt.create_torrent(fs, 65536, flags=lt.create_torrent.v1_only)
for url in INPUT['trackers']:
    ct.add_tracker(url)
lt.set_piece_hashes(ct, INPUT['dir'])
with open(INPUT['torrent'], 'wb') as f:
    f.write(lt.bencode(ct.generate()))
emit({'infoHash': str(lt.torrent_info(INPUT['torrent']).info_hashes().v1)})
`, { input: { dir, size: sizeBytes, trackers, torrent: torrentPath }, timeoutMs: 30_000 })
  return { torrentPath, infoHash: out.infoHash }
}

/** Writes a copy of `torrentPath` announcing to `trackers` (one tier each); the info hash is unchanged. */
export async function withTrackers (torrentPath: string, trackers: string[], outPath: string): Promise<void> {
  await runLibtorrent(`
ct = lt.create_torrent(lt.torrent_info(INPUT['in']))
for i, url in enumerate(INPUT['trackers']):
    ct.add_tracker(url, i)
with open(INPUT['out'], 'wb') as f:
    f.write(lt.bencode(ct.generate()))
emit(True)
`, { input: { in: torrentPath, trackers, out: outPath }, timeoutMs: 30_000 })
}
