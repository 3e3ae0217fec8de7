import { describe, expect, it } from 'vitest'
import { formatLogEntry } from '../../../src/logging/logger.js'
import { RingBufferLogger, matchesLogFilter } from '../../../src/logging/ring-buffer-logger.js'

const ID_A = 'aabbccdd00112233445566778899aabbccddeeff'
const ID_B = '0123456789abcdef0123456789abcdef01234567'

/** The engine's scoping: torrent loggers use the info hash's first 8 characters, peers their address. */
function engineLike () {
  const log = new RingBufferLogger(100, { level: 'trace' })
  const ta = log.child('torrent', ID_A.slice(0, 8))
  const tb = log.child('torrent', ID_B.slice(0, 8))
  ta.info('torrent a started')
  ta.child('peer', '10.0.0.1:6881').debug('peer of a handshaked', { client: 'libtorrent/2.0.8' })
  ta.child('peer', '10.0.0.1:6881').child('extension', 'ut_pex').trace('pex from a')
  ta.child('tracker').warn('tracker of a failed', { url: 'http://t.example/announce' })
  tb.child('peer', '10.0.0.2:6881').info('peer of b choked us')
  log.child('connections').info('dialled', { torrentId: ID_B })
  log.child('listen').error('accept failed')
  return log
}

describe('RingBufferLogger filters: torrent, text, several components', () => {
  it('child loggers remember the enclosing instances (a peer entry carries its torrent)', () => {
    const log = engineLike()
    const peer = log.getEntries({ component: 'peer', instanceValue: '10.0.0.1:6881' })[0]!
    expect(peer.parentInstances).toEqual([ID_A.slice(0, 8)])
    const ext = log.getEntries({ component: 'extension' })[0]!
    expect(ext).toMatchObject({ instance: 'ut_pex', parentInstances: [ID_A.slice(0, 8), '10.0.0.1:6881'] })
    // A child without an instance inherits its parent's and adds no parent.
    expect(log.getEntries({ component: 'tracker' })[0]).toMatchObject({ instance: ID_A.slice(0, 8) })
    expect(log.getEntries({ component: 'tracker' })[0]!.parentInstances).toBeUndefined()
    expect(formatLogEntry(peer)).toContain(`peer[${ID_A.slice(0, 8)} / 10.0.0.1:6881] peer of a handshaked`)
  })

  it('filters by torrent: the full id or a prefix, its scope and below, and torrentId fields', () => {
    const log = engineLike()
    const messages = (torrent: string): string[] => log.getEntries({ torrent }).map((e) => e.message)
    expect(messages(ID_A)).toEqual(['torrent a started', 'peer of a handshaked', 'pex from a', 'tracker of a failed'])
    expect(messages(ID_A.toUpperCase())).toEqual(messages(ID_A))
    expect(messages(ID_B)).toEqual(['peer of b choked us', 'dialled'])
    expect(messages(ID_B.slice(0, 10))).toEqual(['peer of b choked us', 'dialled'])
    // Too short to identify a torrent: nothing matches.
    expect(messages('0123')).toEqual([])
    expect(log.getEntries({ torrent: ID_A, level: 'warn' }).map((e) => e.message)).toEqual(['tracker of a failed'])
  })

  it('filters by text (message, component, instance, fields) and by several components', () => {
    const log = engineLike()
    expect(log.getEntries({ text: 'LIBTORRENT' }).map((e) => e.message)).toEqual(['peer of a handshaked'])
    expect(log.getEntries({ text: 't.example' }).map((e) => e.message)).toEqual(['tracker of a failed'])
    expect(log.getEntries({ text: '10.0.0.2' }).map((e) => e.message)).toEqual(['peer of b choked us'])
    expect(log.getEntries({ text: 'choked' }).map((e) => e.message)).toEqual(['peer of b choked us'])
    expect(log.getEntries({ text: 'listen' }).map((e) => e.message)).toEqual(['accept failed'])
    expect(log.getEntries({ component: ['tracker', 'listen'] }).map((e) => e.message)).toEqual(['tracker of a failed', 'accept failed'])
    expect(log.getEntries({ component: ['peer'], torrent: ID_A, text: 'handshaked', level: 'debug' })).toHaveLength(1)
    expect(log.getEntries({ component: ['peer'], torrent: ID_A, text: 'handshaked', level: 'info' })).toHaveLength(0)
    const entry = log.getEntries({ component: 'listen' })[0]!
    expect(matchesLogFilter(entry, { level: 'error', text: 'accept' })).toBe(true)
    expect(matchesLogFilter(entry, { torrent: ID_A })).toBe(false)
  })

  it('per-component levels apply to scoped children, and changes reach loggers already handed out', () => {
    const log = new RingBufferLogger(50, { level: 'info', componentLevels: { peer: 'trace' } })
    const peer = log.child('torrent', ID_A.slice(0, 8)).child('peer', '1.2.3.4:1')
    const torrent = log.child('torrent', ID_A.slice(0, 8))
    peer.trace('peer trace')
    torrent.debug('torrent debug (filtered)')
    expect(log.getEntries().map((e) => e.message)).toEqual(['peer trace'])
    log.setComponentLevels({ torrent: 'debug' })
    log.setLevel('warn')
    peer.info('peer info (now filtered)')
    torrent.debug('torrent debug')
    expect(peer.enabled('info')).toBe(false)
    expect(log.getEntries().map((e) => e.message)).toEqual(['peer trace', 'torrent debug'])
  })
})
