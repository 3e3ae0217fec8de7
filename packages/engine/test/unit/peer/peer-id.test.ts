import { describe, expect, it } from 'vitest'
import { hasCode } from '../../../src/errors.js'
import { seededRandom } from '../../../src/interfaces/random.js'
import { clientNameFromPeerId, generatePeerId, parsePeerClient } from '../../../src/peer/peer-id.js'

const id = (prefix: string): Uint8Array => {
  const out = new Uint8Array(20).fill(0x41)
  for (let i = 0; i < prefix.length; i++) out[i] = prefix.charCodeAt(i)
  return out
}

describe('client name from peer id', () => {
  it.each([
    ['-TR3000-', 'Transmission 3.00'],
    ['-TR2940-', 'Transmission 2.94'],
    // Transmission 4 went to semantic versions: -TR4050- is 4.0.5.
    ['-TR400Z-', 'Transmission 4.0.0+'],
    ['-TR4050-', 'Transmission 4.0.5'],
    ['-TR4100-', 'Transmission 4.1.0'],
    ['-LT2080-', 'libtorrent 2.0.8'],
    ['-LT12A0-', 'libtorrent 1.2.10'],
    ['-lt0D80-', 'libTorrent (rakshasa) 0.13.8'],
    ['-qB4520-', 'qBittorrent 4.5.2'],
    ['-UT355W-', 'µTorrent 3.5.5'],
    ['-DE13F0-', 'Deluge 1.3.15'],
    ['-DE211s-', 'Deluge 2.1.1'],
    ['-AZ5750-', 'Vuze 5.7.5.0'],
    ['-WW0109-', 'WebTorrent 1.9'],
    ['-LS0100-', 'Lodestone 0.1.0'],
    ['M7-4-2--', 'Mainline 7.4.2'],
    ['M10-1-0-', 'Mainline 10.1.0'],
    ['S58B-----', 'Shadow 5.8.11'],
    ['T03I-----', 'BitTornado 0.3.18'],
    ['-ZZ1230-', 'Unknown (ZZ) 1.2.3'],
    ['-BI3860-', 'BiglyBT 3.8.6.0'],
    ['-GT0003-', 'anacrolix/torrent 0.0.0'],
    ['-BT7a5W-', 'BitTorrent 7.10.5'],
    ['-SP3605-', 'BitSpirit 3.6.0'],
    ['-MO1000-', 'MonoTorrent 1.0.0'],
    // Quirky formats that would otherwise pass for another style.
    ['A2-1-36-0-', 'aria2 1.36.0'],
    ['A2-1-18-10-', 'aria2 1.18.10'],
    ['A310-----', 'ABC 3.1.0'],
    ['-ML2.7.2-', 'MLdonkey 2.7.2'],
    ['TIX0283-', 'Tixati 2.83'],
    ['XBT054d-', 'XBT Client 0.5.4 (debug)'],
    ['XBT063--', 'XBT Client 0.6.3'],
    ['OP7190', 'Opera build 7190'],
    ['AZ2500BT', 'BitTyrant'],
    ['Pando-', 'Pando'],
    ['Q1-2-3--', 'Queen Bee 1.2.3']
  ])('%s → %s', (prefix, name) => {
    expect(clientNameFromPeerId(id(prefix))).toBe(name)
  })

  it('names unknown binary ids by their printable prefix', () => {
    const binary = Uint8Array.from({ length: 20 }, (_, i) => i)
    expect(parsePeerClient(binary)).toEqual({ client: 'Unknown (........)', version: null })
    expect(clientNameFromPeerId(id('exbc\u0000\u003a'))).toBe('BitComet 0.58')
    expect(clientNameFromPeerId(id('exbc\u0001\u0002'))).toBe('BitComet 1.02')
    expect(clientNameFromPeerId(id('exbc\u0000\u0057LORD'))).toBe('BitLord 0.87')
    expect(clientNameFromPeerId(id('exbcAB'))).toBe('BitComet')
  })
})

describe('generatePeerId', () => {
  it('starts with our prefix and fills the rest from the random source', () => {
    const a = generatePeerId(seededRandom(1))
    const b = generatePeerId(seededRandom(2))
    expect(a.length).toBe(20)
    expect(new TextDecoder().decode(a.subarray(0, 8))).toBe('-LS0100-')
    expect(a.subarray(8)).not.toEqual(b.subarray(8))
    expect(clientNameFromPeerId(a)).toBe('Lodestone 0.1.0')
  })

  it('refuses a bad prefix', () => {
    let error: unknown
    try { generatePeerId(seededRandom(1), 'x'.repeat(21)) } catch (e) { error = e }
    expect(hasCode(error, 'SETTINGS_INVALID')).toBe(true)
  })
})
