/** Errors a peer connection raises about what the remote sent, or about how it was called. */
import { LodestoneError, ProtocolError, isLodestoneError } from '../errors.js'

/** The remote broke the protocol: the connection closes with this as its reason. */
export function violation (reason: string): ProtocolError<'PEER_PROTOCOL_VIOLATION'> {
  return new ProtocolError('PEER_PROTOCOL_VIOLATION', { reason }, { message: `protocol violation: ${reason}` })
}

/** A caller bug (bad coordinates, a second piece count). */
export function badArgument (name: string, reason: string): LodestoneError<'ARGUMENT_INVALID'> {
  return new LodestoneError('ARGUMENT_INVALID', { name, reason })
}

/** True for {@link badArgument}'s errors. */
export function isArgumentError (error: unknown): boolean {
  return isLodestoneError(error) && error.code === 'ARGUMENT_INVALID'
}
