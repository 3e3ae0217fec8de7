/**
 * Answers the queries other nodes send us (BEP 5 ping / find_node / get_peers / announce_peer,
 * BEP 51 sample_infohashes). Rate limits and read-only mode are the caller's (DhtNode) business;
 * this module only decides what one answer holds.
 *
 * - Nodes come from the table of the querier's address family, or from those BEP 32 `want` asks for.
 * - `get_peers` always carries a token and the closest nodes, values too when we have peers: an
 *   unknown info hash still gets a useful answer (libtorrent refreshes with random targets).
 * - `announce_peer` needs a token we gave to that IP (current or previous secret); the port is the
 *   UDP source port with `implied_port` (BEP 5), which is how NATed peers announce.
 * - Unknown methods with a `target` are answered like `find_node` (forward compatibility, as
 *   libtorrent does); others get error 204.
 * - Every answer carries BEP 42's `ip`: the address we saw the querier at.
 */
import type { PeerAddress } from '../peer/peer-address.js'
import type { IpFamily } from '../tracker/compact-peers.js'
import { encodeCompactNodes } from './compact-nodes.js'
import type { DhtSettings } from './dht-settings.js'
import { encodeError, encodeResponse, KRPC_ERROR, type KrpcQuery, type KrpcResponseFields } from './krpc-codec.js'
import type { NodeId } from './node-id.js'
import type { PeerStore } from './peer-store.js'
import type { RoutingTable } from './routing-table.js'
import type { TokenSecrets } from './token-secrets.js'

export interface QueryResponderDeps {
  ownId: () => NodeId
  tables: Readonly<Record<IpFamily, RoutingTable>>
  peers: PeerStore
  tokens: TokenSecrets
  settings: DhtSettings
  /** Counts an accepted announce. */
  onAnnounce: (infoHash: NodeId, peer: PeerAddress) => void
}

/** The answer to `query` from `from` (the querier's canonical address): the bytes to send back. */
export function answerQuery (deps: QueryResponderDeps, query: KrpcQuery, from: PeerAddress): Uint8Array {
  const family: IpFamily = from.host.includes(':') ? 6 : 4
  const id = deps.ownId()
  const reply = (fields: KrpcResponseFields): Uint8Array => encodeResponse(query.t, id, fields, from)
  const withNodes = (target: NodeId, fields: KrpcResponseFields = {}): KrpcResponseFields => {
    const want = query.want ?? { n4: family === 4, n6: family === 6 }
    const k = deps.settings.routingTable.bucketSize
    if (want.n4) fields.nodes = encodeCompactNodes(deps.tables[4].closest(target, k), 4)
    if (want.n6) fields.nodes6 = encodeCompactNodes(deps.tables[6].closest(target, k), 6)
    return fields
  }
  switch (query.method) {
    case 'ping':
      return reply({})
    case 'find_node':
      return reply(withNodes(query.target ?? id))
    case 'get_peers': {
      const infoHash = query.infoHash ?? id
      const fields = withNodes(infoHash, { token: deps.tokens.tokenFor(from.host) })
      const values = deps.peers.get(infoHash, family)
      if (values.length > 0) fields.values = values
      return reply(fields)
    }
    case 'announce_peer': {
      const infoHash = query.infoHash
      if (infoHash === undefined || query.token === undefined || !deps.tokens.isValid(query.token, from.host)) {
        return encodeError(query.t, KRPC_ERROR.protocol, 'bad token')
      }
      const port = query.impliedPort ? from.port : query.port
      if (port === undefined) return encodeError(query.t, KRPC_ERROR.protocol, 'bad port')
      const peer = { host: from.host, port }
      deps.peers.add(infoHash, peer)
      deps.onAnnounce(infoHash, peer)
      return reply({})
    }
    case 'sample_infohashes': {
      const samples = deps.peers.sampleInfoHashes(deps.settings.sampleInfohashesCount)
      const bytes = new Uint8Array(samples.length * 20)
      samples.forEach((s, i) => { bytes.set(s, i * 20) })
      return reply(withNodes(query.target ?? id, {
        samples: bytes,
        num: deps.peers.torrentCount,
        interval: deps.settings.sampleInfohashesIntervalSec
      }))
    }
    default:
      if (query.target !== undefined) return reply(withNodes(query.target))
      return encodeError(query.t, KRPC_ERROR.methodUnknown, 'method unknown')
  }
}
