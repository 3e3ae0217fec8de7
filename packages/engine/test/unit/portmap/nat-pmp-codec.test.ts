import { describe, expect, it } from 'vitest'
import { hasCode } from '../../../src/errors.js'
import {
  decodeExternalAddressResponse, decodeMapResponse, encodeExternalAddressRequest, encodeMapRequest, natPmpResponseOp
} from '../../../src/portmap/nat-pmp-codec.js'

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
const bytes = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, 'hex'))

describe('NAT-PMP codec (RFC 6886)', () => {
  it('encodes the external address request and mapping requests (TCP op 2, UDP op 1; lifetime 0 removes)', () => {
    expect(hex(encodeExternalAddressRequest())).toBe('0000')
    expect(hex(encodeMapRequest('tcp', 6881, 6881, 3600))).toBe('00020000' + '1ae1' + '1ae1' + '00000e10')
    expect(hex(encodeMapRequest('udp', 51413, 0, 0))).toBe('00010000' + 'c8d5' + '0000' + '00000000')
  })

  it('decodes answers: the external address, the granted port and lifetime', () => {
    const address = bytes('0080' + '0000' + '00007722' + '0b4d0002')
    expect(natPmpResponseOp(address)).toBe(0)
    expect(decodeExternalAddressResponse(address)).toEqual({ epochSec: 0x7722, address: '11.77.0.2' })
    const map = bytes('0082' + '0000' + '00000010' + '1ae1' + '1ae2' + '00000e10')
    expect(natPmpResponseOp(map)).toBe(2)
    expect(decodeMapResponse(map, 'tcp', 6881)).toEqual({ epochSec: 16, internalPort: 6881, externalPort: 6882, lifetimeSec: 3600 })
  })

  it('refuses error results and short answers with PORT_MAPPING_FAILED, and ignores what is no response', () => {
    let error: unknown
    try { decodeMapResponse(bytes('0081' + '0002' + '00000010' + '1ae1000000000000'), 'udp', 6881) } catch (e) { error = e }
    expect(hasCode(error, 'PORT_MAPPING_FAILED') && error.details.reason).toBe('result code 2 (not authorized / refused)')
    expect(() => decodeExternalAddressResponse(bytes('008000000000'))).toThrow(/expected 12/)
    expect(() => decodeMapResponse(bytes('00'), 'tcp', 1)).toThrow(/response of 1 bytes/)
    expect(natPmpResponseOp(encodeMapRequest('tcp', 1, 1, 1))).toBeNull() // a request, not a response
    expect(natPmpResponseOp(bytes('0180000000000000'))).toBeNull() // version 1 (PCP)
  })
})
