/**
 * Peer exchange (BEP 11) tunables and their defaults. Kept apart from the class that uses them, so
 * `EngineSettings` can hold them without importing it (no import cycle through session/).
 */
/** Peer exchange tunables (section `pex` of EngineSettings). */
export interface PexSettings {
  /** Least time between two messages to one peer. BEP 11: one a minute. @default 60_000 */
  intervalMs: number
  /** Added peers per message; the rest wait for the next one. @default 50 */
  maxAddedPerMessage: number
  /** Dropped peers per message. @default 50 */
  maxDroppedPerMessage: number
  /** Added peers read from one incoming message; further ones are ignored. @default 50 */
  maxIncomingPeersPerMessage: number
  /** An incoming message sooner than this after the last one read is ignored (flooding). @default 30_000 */
  minIncomingIntervalMs: number
}

export const defaultPexSettings: Readonly<PexSettings> = {
  intervalMs: 60_000,
  maxAddedPerMessage: 50,
  maxDroppedPerMessage: 50,
  maxIncomingPeersPerMessage: 50,
  minIncomingIntervalMs: 30_000
}
