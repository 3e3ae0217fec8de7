import { describe, expect, it } from 'vitest'
import { mergeDaemonSettings, parseDaemonSettings } from '../../src/index.js'

describe('daemon settings', () => {
  it('names an unknown key, a bad value and an unknown engine setting', () => {
    expect(() => parseDaemonSettings({ rpcPasword: 'x' })).toThrow(/rpcPasword: unknown setting/)
    expect(() => parseDaemonSettings({ rpcPort: 70_000 })).toThrow(/rpcPort/)
    expect(() => parseDaemonSettings({ engine: { listen: { prot: 1 } } })).toThrow(/engine\.listen\.prot/)
    expect(() => parseDaemonSettings({ engine: { dth: {} } })).toThrow(/engine\.dth/)
    expect(() => parseDaemonSettings([])).toThrow(/JSON object/)
    expect(parseDaemonSettings({ rpcPort: 0, engine: { discovery: { dht: false } } })).toEqual({ rpcPort: 0, engine: { discovery: { dht: false } } })
  })

  it('layers defaults, file and flags; refuses a non-loopback bind without credentials', () => {
    const s = mergeDaemonSettings({ rpcPort: 1, downloadDir: 'rel', engine: { listen: { port: 1 } } }, { rpcPort: 2, engine: { listen: { host: '127.0.0.1' } } })
    expect(s.rpcPort).toBe(2)
    expect(s.rpcHost).toBe('127.0.0.1')
    expect(s.downloadDir.startsWith('/')).toBe(true)
    expect(s.engine).toEqual({ listen: { port: 1, host: '127.0.0.1' } })
    expect(() => mergeDaemonSettings({ rpcHost: '0.0.0.0' })).toThrow(/beyond loopback.*rpcUsername and rpcPassword/)
    expect(() => mergeDaemonSettings({ rpcUsername: 'a' })).toThrow(/go together/)
    expect(mergeDaemonSettings({ rpcHost: '0.0.0.0', rpcUsername: 'a', rpcPassword: 'b' }).rpcHost).toBe('0.0.0.0')
    expect(mergeDaemonSettings({ rpcHost: '::1' }).rpcHost).toBe('::1')
  })
})
