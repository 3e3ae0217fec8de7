/**
 * `--no-dht` and `--dht-bootstrap HOST:PORT` (repeatable; replaces the public routers), shared by
 * download, seed and `dht get-peers`. The DHT is on by default, with the well-known public routers.
 */
import { Option } from 'commander'
import type { PartialEngineSettings } from '@lodestone/engine'
import { collectPeer } from './peer-arg.js'

export interface DhtFlags {
  /** false with --no-dht. */
  dht: boolean
  dhtBootstrap?: string[]
}

/** `--no-dht`. */
export function noDhtOption (): Option {
  return new Option('--no-dht', 'do not use the DHT (BEP 5) to find peers')
}

/** `--dht-bootstrap HOST:PORT`, repeatable. */
export function dhtBootstrapOption (): Option {
  return new Option('--dht-bootstrap <host:port>', 'bootstrap the DHT from this node instead of the public routers (repeatable)').argParser(collectPeer)
}

/** The engine settings the flags ask for (nothing when they are absent: the engine defaults). */
export function dhtSettings (flags: DhtFlags): PartialEngineSettings {
  return {
    ...(flags.dht ? {} : { discovery: { dht: false } }),
    ...(flags.dhtBootstrap === undefined ? {} : { dht: { bootstrapNodes: flags.dhtBootstrap } })
  }
}
