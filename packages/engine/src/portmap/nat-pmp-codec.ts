/**
 * NAT-PMP (RFC 6886) messages: the external-address request, the mapping request (a lifetime of 0
 * removes a mapping) and their responses. Pure codecs; the Node adapter sends them to the default
 * gateway's UDP port 5351.
 */
import { LodestoneError } from '../errors.js'
import type { PortMappingProtocol } from '../interfaces/port-mapper.js'

export const NAT_PMP_PORT = 5351
const VERSION = 0
const OP_EXTERNAL_ADDRESS = 0
const OP_MAP_UDP = 1
const OP_MAP_TCP = 2
const RESPONSE_BIT = 128

/** RFC 6886 section 3.5 result codes, for error messages. */
const RESULT_NAMES: Readonly<Record<number, string>> = {
  1: 'unsupported version',
  2: 'not authorized / refused',
  3: 'network failure',
  4: 'out of resources',
  5: 'unsupported opcode'
}

export function encodeExternalAddressRequest (): Uint8Array {
  return Uint8Array.of(VERSION, OP_EXTERNAL_ADDRESS)
}

/** A mapping request; `lifetimeSec` 0 with `externalPort` 0 removes the mapping of `internalPort`. */
export function encodeMapRequest (protocol: PortMappingProtocol, internalPort: number, externalPort: number, lifetimeSec: number): Uint8Array {
  const out = new Uint8Array(12)
  const view = new DataView(out.buffer)
  view.setUint8(0, VERSION)
  view.setUint8(1, protocol === 'udp' ? OP_MAP_UDP : OP_MAP_TCP)
  view.setUint16(4, internalPort)
  view.setUint16(6, externalPort)
  view.setUint32(8, lifetimeSec)
  return out
}

export interface NatPmpExternalAddress { epochSec: number, address: string }
export interface NatPmpMapping { epochSec: number, internalPort: number, externalPort: number, lifetimeSec: number }

/** The opcode a response answers, or null when `bytes` is no NAT-PMP response at all (ignore it). */
export function natPmpResponseOp (bytes: Uint8Array): number | null {
  if (bytes.length < 8 || bytes[0] !== VERSION || ((bytes[1] ?? 0) & RESPONSE_BIT) === 0) return null
  return (bytes[1] ?? 0) - RESPONSE_BIT
}

export function mapOpcode (protocol: PortMappingProtocol): number {
  return protocol === 'udp' ? OP_MAP_UDP : OP_MAP_TCP
}

export const EXTERNAL_ADDRESS_OP = OP_EXTERNAL_ADDRESS

/** @throws LodestoneError PORT_MAPPING_FAILED for a short response or a non-zero result code. */
export function decodeExternalAddressResponse (bytes: Uint8Array): NatPmpExternalAddress {
  const view = checkResponse(bytes, 12, 'tcp', 0)
  return { epochSec: view.getUint32(4), address: `${bytes[8]}.${bytes[9]}.${bytes[10]}.${bytes[11]}` }
}

/** @throws LodestoneError PORT_MAPPING_FAILED for a short response or a non-zero result code. */
export function decodeMapResponse (bytes: Uint8Array, protocol: PortMappingProtocol, internalPort: number): NatPmpMapping {
  const view = checkResponse(bytes, 16, protocol, internalPort)
  return { epochSec: view.getUint32(4), internalPort: view.getUint16(8), externalPort: view.getUint16(10), lifetimeSec: view.getUint32(12) }
}

function checkResponse (bytes: Uint8Array, length: number, protocol: PortMappingProtocol, internalPort: number): DataView {
  const fail = (reason: string): LodestoneError => new LodestoneError('PORT_MAPPING_FAILED', { protocol, internalPort, method: 'natpmp', reason })
  if (bytes.length < 4) throw fail(`response of ${bytes.length} bytes`)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const result = view.getUint16(2)
  if (result !== 0) throw fail(`result code ${result} (${RESULT_NAMES[result] ?? 'unknown'})`)
  if (bytes.length < length) throw fail(`response of ${bytes.length} bytes, expected ${length}`)
  return view
}
