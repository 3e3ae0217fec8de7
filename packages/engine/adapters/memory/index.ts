/**
 * In-memory adapters for tests and simulations: a sparse in-memory filesystem, a virtual network
 * with latency / bandwidth / loss / partitions, a manual clock and a session store. All of them are
 * platform-agnostic and deterministic given the same inputs (and seed).
 *
 * @module @lodestone/engine/adapters/memory
 */
export { ManualClock, defaultManualClockSettings, macrotaskSettle, type ManualClockSettings, type AsyncRunOptions, type SettleFn } from './manual-clock.js'
export { MemoryFileSystem, type MemoryFileSystemDeps, type MemoryEntryInfo, type WallClock } from './memory-filesystem.js'
export { FaultyFileSystem, type FaultyFileSystemSettings, type FileSystemOperation } from './faulty-filesystem.js'
export {
  MemoryNetwork, MemorySocketFactory, defaultMemoryNetworkSettings,
  type MemoryNetworkSettings, type MemoryNetworkDeps, type MemoryNetworkStats, type LinkSettings, type HostSettings
} from './memory-network.js'
export { MemorySessionStore } from './memory-session-store.js'
