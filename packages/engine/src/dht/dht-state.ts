/**
 * What survives a restart (session store key `dht:state`): our node id, so our place in the key
 * space (and what other nodes know of us) stays the same, and a sample of good nodes to bootstrap
 * from before the bootstrap routers. JSON, because session stores hold JSON-friendly values.
 */
import { fromHex, toHex } from '../util/bytes.js'
import type { NodeContact } from './compact-nodes.js'
import { NODE_ID_BYTES, type NodeId } from './node-id.js'

export const DHT_STATE_KEY = 'dht:state'

export interface DhtState {
  version: 1
  /** Hex node id. */
  nodeId: string
  nodes: Array<{ id: string, host: string, port: number }>
}

export function encodeDhtState (id: NodeId, nodes: readonly NodeContact[]): DhtState {
  return { version: 1, nodeId: toHex(id), nodes: nodes.map((n) => ({ id: toHex(n.id), host: n.host, port: n.port })) }
}

/** The id and nodes of a stored state; null when it is absent or not a state this version wrote. */
export function decodeDhtState (value: unknown, maxNodes: number): { id: NodeId, nodes: NodeContact[] } | null {
  if (typeof value !== 'object' || value === null) return null
  const v = value as Partial<DhtState>
  if (v.version !== 1 || typeof v.nodeId !== 'string' || !Array.isArray(v.nodes)) return null
  const id = fromHex(v.nodeId)
  if (id?.length !== NODE_ID_BYTES) return null
  const nodes: NodeContact[] = []
  for (const n of v.nodes.slice(0, maxNodes)) {
    if (typeof n !== 'object' || n === null || typeof n.host !== 'string' || typeof n.id !== 'string') continue
    const nodeId = fromHex(n.id)
    if (nodeId?.length !== NODE_ID_BYTES || !Number.isInteger(n.port) || n.port < 1 || n.port > 65535) continue
    nodes.push({ id: nodeId, host: n.host, port: n.port })
  }
  return { id, nodes }
}
