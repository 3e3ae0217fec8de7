import { describe, expect, it } from 'vitest'
import { LodestoneError, ProtocolError } from '../../../src/errors.js'
import { withoutStackTrace } from '../../../src/util/stack-traces.js'

const limit = (): number | undefined => (Error as { stackTraceLimit?: number }).stackTraceLimit

describe('errors from untrusted bytes carry no stack', () => {
  it('a ProtocolError has only its header line; a LodestoneError keeps its frames', () => {
    const before = limit()
    const protocol = new ProtocolError('PEER_PROTOCOL_VIOLATION', { reason: 'bad length' })
    expect(protocol.stack).toBe(`ProtocolError: ${protocol.message}`)
    expect(protocol.code).toBe('PEER_PROTOCOL_VIOLATION')
    expect(protocol).toBeInstanceOf(LodestoneError)
    const ours = new LodestoneError('INTERNAL', { reason: 'x' })
    expect(ours.stack?.split('\n').length).toBeGreaterThan(1)
    expect(limit()).toBe(before)
  })

  it('withoutStackTrace restores the limit when its maker throws', () => {
    const before = limit()
    expect(() => withoutStackTrace(() => { throw new Error('inside') })).toThrow('inside')
    expect(limit()).toBe(before)
    const cyclic: Record<string, unknown> = {}
    cyclic.self = cyclic
    // JSON.stringify of cyclic details throws inside the constructor, after the limit was lowered.
    expect(() => new ProtocolError('INTERNAL', cyclic as unknown as { reason: string })).toThrow(TypeError)
    expect(limit()).toBe(before)
  })
})
