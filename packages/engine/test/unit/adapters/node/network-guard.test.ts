// The test-time network guard (test-guard/network-guard.mjs, loaded by every vitest project):
// sockets may reach loopback only; anything else fails the test (here: is recorded, then cleared
// so this test can look at it) or, in a spawned Node process, exits it with code 86.
import { execFile } from 'node:child_process'
import { createSocket } from 'node:dgram'
import { afterEach, describe, expect, it } from 'vitest'
import { NodeSocketFactory } from '../../../../adapters/node/node-socket-factory.js'

interface GuardState { violations: string[] }
const guard = (globalThis as unknown as Record<symbol, GuardState | undefined>)[Symbol.for('lodestone.networkGuard')]

function takeViolations (): string[] {
  return guard?.violations.splice(0) ?? []
}

afterEach(() => { takeViolations() })

describe('network guard', () => {
  it('is installed in this worker and in the environment of spawned Node processes', () => {
    expect(guard).toBeDefined()
    expect(process.env.NODE_OPTIONS).toContain('network-guard.mjs')
  })

  it('refuses a raw UDP send beyond loopback and lets loopback through', async () => {
    const socket = createSocket('udp4')
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve))
    expect(() => socket.send(new Uint8Array(4), 6881, '192.0.2.1')).toThrow(/network guard/)
    expect(() => socket.send(new Uint8Array(4), 6881, 'router.bittorrent.com')).toThrow(/network guard/)
    expect(() => socket.send(new Uint8Array(4), 0, 4, 6881, '239.192.152.143')).toThrow(/network guard/)
    socket.send(new Uint8Array(4), 9, '127.0.0.1')
    expect(takeViolations()).toHaveLength(3)
    socket.close()
  })

  it('catches what the adapters swallow: a UDP send and a TCP connect from NodeSocketFactory', async () => {
    const factory = new NodeSocketFactory()
    const udp = await factory.bindUdp(0, '127.0.0.1')
    udp.send(new Uint8Array(4), '198.51.100.7', 6881) // the adapter drops send errors…
    udp.close()
    expect(takeViolations()).toEqual([expect.stringContaining('UDP send to 198.51.100.7:6881')]) // …the guard saw it
    await expect(factory.connectTcp('192.0.2.1', 6881, { timeoutMs: 1_000 })).rejects.toThrow()
    expect(takeViolations()).toEqual([expect.stringContaining('TCP connect to 192.0.2.1:6881')])
  })

  it('makes a spawned Node process that sends beyond loopback exit with code 86', async () => {
    const script = "require('node:dgram').createSocket('udp4').send(Buffer.from('x'), 6881, '192.0.2.1')"
    const code = await new Promise<number | null>((resolve) => {
      const child = execFile(process.execPath, ['-e', script], { timeout: 10_000 })
      child.on('exit', (c) => { resolve(c) })
    })
    expect(code).toBe(86)
  })
})
