/**
 * `/metrics` in Prometheus text format (prom-client): rates, bytes, peers, torrents by state, hash
 * failures, the disk queue and connection counts, read from the engine when scraped (nothing is
 * computed between scrapes), plus Node's process metrics. One registry per daemon, never the
 * library's global one, so two daemons in a process (tests) do not mix.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client'
import { TORRENT_STATES, type BtEngine } from '@lodestone/engine'

export interface MetricsSource {
  engine: () => BtEngine
  /** Payload bytes of this run including removed torrents. */
  sessionBytes: () => { downloadedBytes: number, uploadedBytes: number }
}

/** A counter whose value is read from a source at scrape time (monotonic within a run). */
function readCounter (registry: Registry, name: string, help: string, read: () => number): void {
  new Counter({
    name,
    help,
    registers: [registry],
    collect () {
      this.reset()
      this.inc(read())
    }
  })
}

function readGauge (registry: Registry, name: string, help: string, read: () => number): void {
  new Gauge({ name, help, registers: [registry], collect () { this.set(read()) } })
}

export class DaemonMetrics {
  readonly registry = new Registry()

  constructor (source: MetricsSource) {
    const r = this.registry
    collectDefaultMetrics({ register: r, prefix: 'lodestone_' })
    const stats = (): ReturnType<BtEngine['stats']> => source.engine().stats()
    const sum = (pick: (s: ReturnType<BtEngine['torrents'][number]['stats']>) => number): number => {
      let total = 0
      for (const t of source.engine().torrents) total += pick(t.stats())
      return total
    }
    readGauge(r, 'lodestone_download_rate_bytes_per_second', 'Payload download rate of all torrents.', () => stats().downloadRateBytesPerSec)
    readGauge(r, 'lodestone_upload_rate_bytes_per_second', 'Payload upload rate of all torrents.', () => stats().uploadRateBytesPerSec)
    readCounter(r, 'lodestone_downloaded_bytes_total', 'Payload bytes downloaded since the daemon started.', () => source.sessionBytes().downloadedBytes)
    readCounter(r, 'lodestone_uploaded_bytes_total', 'Payload bytes uploaded since the daemon started.', () => source.sessionBytes().uploadedBytes)
    readCounter(r, 'lodestone_wasted_bytes_total', 'Bytes received and discarded (duplicates, failed pieces) by current torrents.', () => sum((s) => s.wastedBytes))
    readCounter(r, 'lodestone_hash_failures_total', 'Pieces that failed their hash check in current torrents.', () => sum((s) => s.hashFailures))
    readGauge(r, 'lodestone_peers', 'Connected peers over all torrents.', () => sum((s) => s.peers))
    readGauge(r, 'lodestone_disk_queue_bytes', 'Complete pieces waiting for the hasher or the disk.', () => sum((s) => s.awaitingBytes))
    readGauge(r, 'lodestone_connections_half_open', 'Outgoing connections not established yet.', () => stats().connections.halfOpen)
    readGauge(r, 'lodestone_banned_hosts', 'Hosts banned for sending bad data.', () => stats().connections.bannedHosts)
    new Gauge({
      name: 'lodestone_torrents',
      help: 'Torrents by engine state.',
      labelNames: ['state'],
      registers: [r],
      collect () {
        const counts = new Map<string, number>(TORRENT_STATES.map((s) => [s, 0]))
        for (const t of source.engine().torrents) counts.set(t.state, (counts.get(t.state) ?? 0) + 1)
        for (const [state, n] of counts) this.set({ state }, n)
      }
    })
  }

  /** Answers a scrape. */
  async serve (req: IncomingMessage, res: ServerResponse): Promise<void> {
    req.resume()
    const text = await this.registry.metrics()
    res.writeHead(200, { 'Content-Type': this.registry.contentType, 'Content-Length': Buffer.byteLength(text) })
    res.end(text)
  }
}
