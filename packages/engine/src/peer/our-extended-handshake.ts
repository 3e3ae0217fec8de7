/**
 * Our BEP 10 extended handshake, assembled from what the connection was given: the extensions'
 * ids and fields, our client name, listen port and addresses, BEP 21 `upload_only` and the
 * encryption preference `e`. Kept apart from PeerConnection, which only decides when to send it.
 */
import { encodeExtendedHandshake, type ExtendedHandshakeFields, type ExtensionRegistry } from '../protocol/extension-protocol.js'
import { ipToBytes } from '../util/ip-bytes.js'
import { LODESTONE_CLIENT_NAME, type PeerConnectionInit } from './peer-connection-types.js'
import type { PeerSettings } from './peer-settings.js'

/** The handshake payload (bencoded, without the message framing) for a peer at `remoteAddress`. */
export function encodeOurExtendedHandshake (
  init: PeerConnectionInit, extensions: ExtensionRegistry, settings: PeerSettings, remoteAddress: string
): Uint8Array {
  const fields: ExtendedHandshakeFields = {
    m: extensions.localMap(),
    v: init.clientName ?? LODESTONE_CLIENT_NAME,
    reqq: settings.maxIncomingRequests,
    extra: extensions.handshakeExtra()
  }
  if (init.uploadOnly !== undefined) fields.uploadOnly = init.uploadOnly()
  const prefersEncryption = init.prefersEncryption?.()
  if (prefersEncryption !== undefined) fields.prefersEncryption = prefersEncryption
  if (init.listenPort !== undefined) fields.p = init.listenPort
  // BEP 10 `yourip`: the peer's address as we see it, so it can learn its external address.
  const yourip = ipToBytes(remoteAddress)
  if (yourip !== null) fields.yourip = yourip
  if (init.ipv4 !== undefined) fields.ipv4 = init.ipv4
  if (init.ipv6 !== undefined) fields.ipv6 = init.ipv6
  return encodeExtendedHandshake(fields)
}
