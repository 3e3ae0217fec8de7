/** The view of its connection a BEP 10 extension instance gets (`PeerExtensionContext`). */
import type { LodestoneError } from '../errors.js'
import type { Logger } from '../interfaces/logger.js'
import type { ExtensionRegistry, PeerExtension, PeerExtensionContext } from '../protocol/extension-protocol.js'

/** What the context reads from its connection. */
export interface ExtensionContextHost {
  readonly registry: ExtensionRegistry
  readonly log: Logger | undefined
  sendExtended: (name: string, payload: Uint8Array) => boolean
  close: (reason?: LodestoneError) => void
}

/**
 * A context for the extension `extension()` returns; the extension exists only once its factory
 * returned, so it is looked up on use (null before).
 */
export function createExtensionContext (peer: ExtensionContextHost, extension: () => PeerExtension | null): PeerExtensionContext {
  let logger: Logger | undefined
  return {
    send: (payload) => {
      const ext = extension()
      return ext !== null && peer.sendExtended(ext.name, payload)
    },
    get remoteId () {
      const ext = extension()
      return ext === null ? undefined : peer.registry.remoteId(ext.name)
    },
    get remoteHandshake () { return peer.registry.remoteHandshake },
    close: (reason) => { peer.close(reason) },
    get logger () {
      if (logger === undefined && peer.log !== undefined) logger = peer.log.child('extension', extension()?.name)
      return logger
    }
  }
}
