/**
 * Test-time network guard (issue 10). Lodestone's defaults are the real-world ones (public DHT
 * routers, LSD multicast), so a default that slips into a test would reach the internet. This
 * module patches Node's socket entry points so that any UDP send or TCP connect to an address
 * outside 127.0.0.0/8 and ::1 fails loudly instead:
 *
 * - in a vitest worker (loaded by vitest-setup.mjs) the call throws and the violation is recorded;
 *   the setup file's afterEach fails the test that made it (the adapters catch send errors, so a
 *   throw alone could go unnoticed);
 * - in a child Node process (the setup file puts `--import <this file>` in NODE_OPTIONS, so every
 *   CLI a test spawns loads it) the process prints the violation and exits with code 86.
 *
 * Host names other than `localhost` are refused before any DNS lookup. A process running in a
 * network namespace other than the test runner's (a test that made its own with `unshare --net`)
 * is not restricted: nothing there can reach the outside, and LSD multicast needs it.
 */
import dgram from 'node:dgram'
import net from 'node:net'
import { readlinkSync } from 'node:fs'

const GUARD = Symbol.for('lodestone.networkGuard')
export const GUARD_EXIT_CODE = 86

/** The network namespace of this process ('' where /proc is not there). */
export function currentNetNamespace () {
  try { return readlinkSync('/proc/self/ns/net') } catch { return '' }
}

/** True for destinations a test may reach: loopback literals, `localhost`, the unspecified address. */
export function isLoopbackDestination (host) {
  if (host === undefined || host === null || host === '') return true // Node's default: localhost
  let h = String(host).toLowerCase()
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1)
  if (h === 'localhost' || h === '::1' || h === '0:0:0:0:0:0:0:1' || h === '0.0.0.0' || h === '::') return true
  if (h.startsWith('::ffff:')) h = h.slice(7)
  return net.isIPv4(h) && h.startsWith('127.')
}

function install () {
  if (globalThis[GUARD] !== undefined) return globalThis[GUARD]
  const state = { violations: [], inChild: process.env.LODESTONE_NET_GUARD_CHILD === '1' }
  globalThis[GUARD] = state
  // Inside a namespace the test created, everything is private: no restriction.
  const home = process.env.LODESTONE_NET_GUARD_NETNS
  if (home !== undefined && home !== '' && currentNetNamespace() !== home) return state

  const refuse = (what, host, port) => {
    const message = `network guard: ${what} to ${host}:${port} refused (tests may reach only 127.0.0.0/8 and ::1)`
    state.violations.push(message)
    if (state.inChild) {
      process.stderr.write(message + '\n')
      process.exit(GUARD_EXIT_CODE)
    }
    throw new Error(message)
  }

  const dgramSend = dgram.Socket.prototype.send
  dgram.Socket.prototype.send = function guardedSend (msg, ...args) {
    // send(msg, [offset, length,] port, address, cb) or send(msg, cb) on a connected socket.
    let port
    let address
    if (typeof args[0] === 'number' && typeof args[1] === 'number' && typeof args[2] === 'number') {
      port = args[2]; address = args[3]
    } else if (typeof args[0] === 'number' || typeof args[0] === 'string') {
      port = args[0]; address = args[1]
    }
    if (port !== undefined && typeof address !== 'function' && !isLoopbackDestination(address)) refuse('UDP send', address, port)
    return dgramSend.call(this, msg, ...args)
  }
  const dgramConnect = dgram.Socket.prototype.connect
  dgram.Socket.prototype.connect = function guardedConnect (port, address, ...rest) {
    if (typeof address !== 'function' && !isLoopbackDestination(address)) refuse('UDP connect', address, port)
    return dgramConnect.call(this, port, address, ...rest)
  }
  const netConnect = net.Socket.prototype.connect
  net.Socket.prototype.connect = function guardedTcpConnect (...args) {
    let first = args[0]
    if (Array.isArray(first)) first = first[0] // internal normalized form: [options, cb]
    if (typeof first === 'object' && first !== null) {
      if (first.path === undefined && !isLoopbackDestination(first.host)) refuse('TCP connect', first.host, first.port)
    } else if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) {
      const host = typeof args[1] === 'string' ? args[1] : undefined
      if (!isLoopbackDestination(host)) refuse('TCP connect', host, first)
    }
    return netConnect.apply(this, args)
  }
  return state
}

export const guardState = install()
