/** `lodestone magnet <torrent-file>`: prints the torrent's magnet link. */
import type { Command } from 'commander'
import type { CliContext } from '../util/context.js'
import { loadTorrentFile } from '../util/load-torrent.js'

export function registerMagnet (program: Command, ctx: CliContext): void {
  program
    .command('magnet')
    .description('print the magnet link of a .torrent file (v1 and/or v2 hashes, name, trackers, web seeds)')
    .argument('<torrent-file>', '.torrent file')
    .action(async (file: string) => {
      const meta = await loadTorrentFile(file)
      const { buildMagnet, magnetFromMetainfo } = await import('@lodestone/engine')
      ctx.out(`${buildMagnet(magnetFromMetainfo(meta))}\n`)
    })
}
