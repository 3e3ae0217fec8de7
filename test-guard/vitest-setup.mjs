/**
 * Vitest setup file of every project (vitest.config.ts): installs the network guard in this
 * worker, makes every Node process a test spawns load it too, and fails a test during which a
 * socket tried to reach beyond loopback (see network-guard.mjs).
 */
import { afterEach } from 'vitest'
import { guardState, currentNetNamespace } from './network-guard.mjs'

const guardUrl = new URL('./network-guard.mjs', import.meta.url).href
const importFlag = `--import=${guardUrl}`
if (!(process.env.NODE_OPTIONS ?? '').includes(importFlag)) {
  process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} ${importFlag}`.trim()
}
process.env.LODESTONE_NET_GUARD_CHILD = '1'
process.env.LODESTONE_NET_GUARD_NETNS ??= currentNetNamespace()

afterEach(() => {
  const violations = guardState.violations.splice(0)
  if (violations.length > 0) throw new Error(violations.join('\n'))
})
