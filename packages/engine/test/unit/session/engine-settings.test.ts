import { describe, expect, it } from 'vitest'
import {
  defaultEngineSettings, effectiveDownloadSettings, resolveSettings, resolveTorrentSettings, testingSettings,
  type PartialEngineSettings
} from '../../../src/session/engine-settings.js'
import { hasCode } from '../../../src/errors.js'

function keyOf (fn: () => unknown): string | undefined {
  try { fn() } catch (err) { if (hasCode(err, 'SETTINGS_INVALID')) return err.details.key; throw err }
  return undefined
}

describe('engine settings', () => {
  it('returns the defaults for an empty partial, as a fresh copy', () => {
    const a = resolveSettings()
    expect(a).toEqual(defaultEngineSettings())
    a.connection.maxHalfOpen = 1
    expect(resolveSettings().connection.maxHalfOpen).toBe(8)
  })

  it('merges per section without touching other keys', () => {
    const s = resolveSettings({ connection: { maxHalfOpen: 3 }, listen: { port: 0 } })
    expect(s.connection.maxHalfOpen).toBe(3)
    expect(s.connection.maxConnections).toBe(200)
    expect(s.listen).toEqual({ port: 0, host: '', enabled: true })
  })

  it('names the key of every invalid setting', () => {
    const bad = (p: unknown): string | undefined => keyOf(() => resolveSettings(p as PartialEngineSettings))
    expect(bad({ connection: { maxHalfOpen: 0 } })).toBe('connection.maxHalfOpen')
    expect(bad({ connection: { maxHalfOpen: 1.5 } })).toBe('connection.maxHalfOpen')
    expect(bad({ listen: { port: 70000 } })).toBe('listen.port')
    expect(bad({ listen: { port: '1' } })).toBe('listen.port')
    expect(bad({ download: { maxUnverifiedBytes: Number.NaN } })).toBe('download.maxUnverifiedBytes')
    expect(bad({ download: { nope: 1 } })).toBe('download.nope')
    expect(bad({ bogus: {} })).toBe('bogus')
    expect(bad({ listen: 5 })).toBe('listen')
    expect(bad({ discovery: { dht: 'yes' } })).toBe('discovery.dht')
    expect(bad({ choking: { seedingAlgorithm: 'fastest' } })).toBe('choking.seedingAlgorithm')
    expect(bad({ peer: { minPipelineDepth: 600 } })).toBe('peer.minPipelineDepth')
    expect(bad({ storage: { maxOpenFiles: 0 } })).toBe('storage.maxOpenFiles')
  })

  it('testingSettings binds loopback on port 0 with discovery off, and accepts overrides', () => {
    const t = testingSettings({ connection: { maxHalfOpen: 2 } })
    expect(t.listen).toMatchObject({ port: 0, host: '127.0.0.1' })
    expect(t.discovery).toMatchObject({ dht: false, lsd: false, portMapping: false, pex: false })
    expect(t.connection.maxHalfOpen).toBe(2)
    expect(t.download.maxUnverifiedBytes).toBeLessThan(defaultEngineSettings().download.maxUnverifiedBytes)
  })

  it('validates per-torrent overrides and layers them over the engine section', () => {
    expect(keyOf(() => resolveTorrentSettings({ maxConnections: 0 }))).toBe('torrent.maxConnections')
    expect(keyOf(() => resolveTorrentSettings({ maxUnverifiedBytes: 1 }))).toBe('download.maxUnverifiedBytes')
    expect(keyOf(() => resolveTorrentSettings({ wat: 1 } as never))).toBe('torrent.wat')
    const o = resolveTorrentSettings({ hashFailuresBeforeBan: 5 })
    const eff = effectiveDownloadSettings(defaultEngineSettings().download, o)
    expect(eff.hashFailuresBeforeBan).toBe(5)
    expect(eff.checkExistingData).toBe(true)
  })
})
