/**
 * Peer discovery flags: `--no-dht`, `--dht-bootstrap HOST:PORT` (repeatable; replaces the public
 * routers) and `--no-lsd`, shared by download and seed (`dht get-peers` takes --dht-bootstrap).
 * The DHT (with the well-known public routers) and local service discovery are on by default.
 */
import { Option } from 'commander'
import type { PartialEngineSettings } from '@lodestone/engine'
import { collectPeer } from './peer-arg.js'

export interface DhtFlags {
  /** false with --no-dht. */
  dht: boolean
  /** false with --no-lsd. */
  lsd: boolean
  dhtBootstrap?: string[]
}

/** `--no-dht`. */
export function noDhtOption (): Option {
  return new Option('--no-dht', 'do not use the DHT (BEP 5) to find peers')
}

/** `--no-lsd`. */
export function noLsdOption (): Option {
  return new Option('--no-lsd', 'do not use local service discovery (BEP 14 multicast on the LAN)')
}

/** `--dht-bootstrap HOST:PORT`, repeatable. */
export function dhtBootstrapOption (): Option {
  return new Option('--dht-bootstrap <host:port>', 'bootstrap the DHT from this node instead of the public routers (repeatable)').argParser(collectPeer)
}

/** The engine settings the flags ask for (nothing when they are absent: the engine defaults). */
export function dhtSettings (flags: DhtFlags): PartialEngineSettings {
  const off = { ...(flags.dht ? {} : { dht: false }), ...(flags.lsd ? {} : { lsd: false }) }
  return {
    ...(Object.keys(off).length > 0 ? { discovery: off } : {}),
    ...(flags.dhtBootstrap === undefined ? {} : { dht: { bootstrapNodes: flags.dhtBootstrap } })
  }
}
