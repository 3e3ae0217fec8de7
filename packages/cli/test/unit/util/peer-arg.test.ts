import { describe, it, expect } from 'vitest'
import { InvalidArgumentError } from 'commander'
import { collectPeer, parsePeerArg } from '../../../src/util/peer-arg.js'
import { parsePort } from '../../../src/util/port-arg.js'
import { defaultStateDir } from '../../../src/util/state-dir.js'

describe('--peer, --port, state dir', () => {
  it('accepts host:port and [v6]:port, refuses the rest', () => {
    expect(parsePeerArg('127.0.0.1:6881')).toBe('127.0.0.1:6881')
    expect(parsePeerArg('[::1]:51413')).toBe('[::1]:51413')
    expect(parsePeerArg('peer.example:1')).toBe('peer.example:1')
    for (const bad of ['127.0.0.1', '::1:6881', '[127.0.0.1]:1', 'h:0', 'h:65536', 'h:port', ':1', 'a b:1']) {
      expect(() => parsePeerArg(bad), bad).toThrow(InvalidArgumentError)
    }
    expect(collectPeer('a:1', collectPeer('b:2', undefined))).toEqual(['b:2', 'a:1'])
  })

  it('ports are 0-65535', () => {
    expect(parsePort('0')).toBe(0)
    expect(parsePort('65535')).toBe(65_535)
    for (const bad of ['-1', '65536', 'x', '1.5', '']) expect(() => parsePort(bad), bad).toThrow(InvalidArgumentError)
  })

  it('keeps state under XDG_DATA_HOME, else ~/.local/share', () => {
    expect(defaultStateDir({ XDG_DATA_HOME: '/data' })).toBe('/data/lodestone')
    expect(defaultStateDir({ XDG_DATA_HOME: 'relative' })).toMatch(/\/\.local\/share\/lodestone$/)
    expect(defaultStateDir({})).toMatch(/\/\.local\/share\/lodestone$/)
  })
})
