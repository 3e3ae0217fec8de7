import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startIoDaemon } from '@lodestone/io-daemon'
import { DaemonFileSystem } from '../../../../adapters/daemon/daemon-filesystem.js'
import { runFileSystemContract } from '../../../contracts/filesystem.contract.js'

runFileSystemContract('DaemonFileSystem (io-daemon over HTTP)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'lodestone-daemon-fs-'))
  const daemon = await startIoDaemon({ roots: [{ label: 'test', dir }] })
  const fs = new DaemonFileSystem({ httpBase: `http://127.0.0.1:${daemon.port}`, authToken: daemon.token, rootKey: daemon.roots[0]!.key })
  return {
    fs,
    openHandleCount: () => fs.openHandles,
    cleanup: async () => { await daemon.close(); await rm(dir, { recursive: true, force: true }) }
  }
})
