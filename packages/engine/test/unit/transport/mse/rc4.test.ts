import { execFileSync } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { KERNEL_MIN_BYTES, Rc4 } from '../../../../src/transport/mse/rc4.js'
import { assembleRc4Module, rc4Kernel } from '../../../../src/transport/mse/rc4-wasm.js'
import { fromHex, toHex } from '../../../../src/util/bytes.js'

const ascii = (s: string): Uint8Array => new TextEncoder().encode(s)

describe('the WebAssembly kernel', () => {
  it('assembles to a valid module and instantiates under Node', () => {
    expect(WebAssembly.validate(assembleRc4Module())).toBe(true)
    expect(rc4Kernel()).not.toBeNull()
  })

  it('is what transforms data of KERNEL_MIN_BYTES or more (its memory holds the cipher state after a call)', () => {
    const kernel = rc4Kernel()!
    kernel.words[64] = 999
    new Rc4(ascii('k'), 0).process(new Uint8Array(KERNEL_MIN_BYTES - 1))
    expect(kernel.words[64]).toBe(999)
    new Rc4(ascii('k'), 0).process(new Uint8Array(KERNEL_MIN_BYTES))
    expect(kernel.words[64]).toBe(KERNEL_MIN_BYTES & 255)
  })
})

describe.each([['WebAssembly kernel', true], ['JavaScript loops', false]] as const)('Rc4 (%s)', (_, useKernel) => {
  function keystream (key: Uint8Array, length: number, discard = 0): Uint8Array {
    const out = new Uint8Array(length)
    new Rc4(key, discard, useKernel).process(out)
    return out
  }

  it('matches the classic test vectors', () => {
    const encrypt = (key: string, text: string): string => {
      const data = ascii(text)
      new Rc4(ascii(key), 0, useKernel).process(data)
      return toHex(data)
    }
    expect(encrypt('Key', 'Plaintext')).toBe('bbf316e8d940af0ad3')
    expect(encrypt('Wiki', 'pedia')).toBe('1021bf0420')
    expect(encrypt('Secret', 'Attack at dawn')).toBe('45a01f645fc35b383552544b9bf5')
  })

  it('matches RFC 6229 (40-bit key 0102030405) at every listed offset, in one call, in a large misaligned buffer (word loop) and byte by byte', () => {
    // RFC 6229 section 2: keystream of key 0x0102030405 at the given offsets.
    const vectors: Array<[number, string]> = [
      [0x0000, 'b2396305f03dc027ccc3524a0a1118a8'], [0x0010, '6982944f18fc82d589c403a47a0d0919'],
      [0x00f0, '28cb1132c96ce286421dcaadb8b69eae'], [0x0100, '1cfcf62b03eddb641d77dfcf7f8d8c93'],
      [0x01f0, '42b7d0cdd918a8a33dd51781c81f4041'], [0x0200, '6459844432a7da923cfb3eb4980661f6'],
      [0x02f0, 'ec10327bde2beefd18f9277680457e22'], [0x0300, 'eb62638d4f0ba1fe9fca20e05bf8ff2b'],
      [0x03f0, '45129048e6a0ed0b56b490338f078da5'], [0x0400, '30abbcc7c20b01609f23ee2d5f6bb7df'],
      [0x05f0, '3294f744d8f9790507e70f62e5bbceea'], [0x0600, 'd8729db41882259bee4f825325f5a130'],
      [0x07f0, '1eb14a0c13b3bf47fa2a0ba93ad45b8b'], [0x0800, 'cc582f8ba9f265e2b1be9112e975d2d7'],
      [0x0bf0, 'f2e30f9bd102ecbf75aaade9bc35c43c'], [0x0c00, 'ec0e11c479dc329dc8da7968fe965681'],
      [0x0ff0, '068326a2118416d21f9d04b2cd1ca050'], [0x1000, 'ff25b58995996707e51fbdf08b34d875']
    ]
    const key = fromHex('0102030405')!
    const whole = keystream(key, 0x1010)
    const bytewise = new Uint8Array(0x1010)
    const rc4 = new Rc4(key, 0, useKernel)
    for (let i = 0; i < bytewise.length; i++) rc4.process(bytewise.subarray(i, i + 1))
    // A buffer large enough for the word loop (32-bit XORs through a view), at an odd offset.
    const large = new Uint8Array(0x20003).subarray(3)
    new Rc4(key, 0, useKernel).process(large)
    for (const [offset, hex] of vectors) {
      expect(toHex(large.subarray(offset, offset + 16))).toBe(hex)
      expect(toHex(whole.subarray(offset, offset + 16))).toBe(hex)
      expect(toHex(bytewise.subarray(offset, offset + 16))).toBe(hex)
    }
  })

  it('processInto writes the transformed bytes into another buffer and leaves the source as it was', () => {
    const key = ascii('lodestone-mse-key-20')
    const src = new Uint8Array(70_001).map((_, i) => (i * 7) & 255)
    const original = src.slice()
    const expected = src.slice()
    new Rc4(key, 1024, useKernel).process(expected)
    const rc4 = new Rc4(key, 1024, useKernel)
    const dst = new Uint8Array(src.length)
    // A short message, a long one past the kernel's 63 KiB slice, then the rest.
    for (const [from, to] of [[0, 13], [13, 66_013], [66_013, 70_001]] as const) rc4.processInto(src.subarray(from, to), dst.subarray(from, to))
    expect(Buffer.compare(Buffer.from(dst), Buffer.from(expected))).toBe(0)
    expect(Buffer.compare(Buffer.from(src), Buffer.from(original))).toBe(0)
    expect(() => { rc4.processInto(src.subarray(0, 4), dst.subarray(0, 5)) }).toThrow(RangeError)
  })

  it('discarding skips exactly that much keystream', () => {
    const key = fromHex('0102030405')!
    expect(toHex(keystream(key, 16, 0x0400))).toBe('30abbcc7c20b01609f23ee2d5f6bb7df')
  })

  it('gives the same bytes for any split and any alignment of the buffer (in place)', () => {
    const key = ascii('lodestone-mse-key-20')
    const reference = keystream(key, 70_000)
    const backing = new Uint8Array(70_000 + 8)
    for (let misalign = 0; misalign < 4; misalign++) {
      const data = backing.subarray(misalign, misalign + 70_000)
      data.fill(0)
      const rc4 = new Rc4(key, 0, useKernel)
      let at = 0
      let step = 1
      while (at < data.length) {
        const n = Math.min(step, data.length - at)
        rc4.process(data.subarray(at, at + n))
        at += n
        // Splits of every size, across the kernel's threshold and past its 63 KiB slice.
        step = (step * 7 + 3) % 70_011
      }
      expect(toHex(data.subarray(0, 64))).toBe(toHex(reference.subarray(0, 64)))
      expect(Buffer.compare(Buffer.from(data), Buffer.from(reference))).toBe(0)
    }
  })

  it('agrees with OpenSSL (its legacy provider, in a child process)', () => {
    const data = new Uint8Array(5000).map((_, i) => (i * 31) & 255)
    const script = "const c = require('node:crypto').createCipheriv('rc4', Buffer.from(process.argv[1], 'ascii'), null);" +
      "process.stdout.write(c.update(Buffer.from(process.argv[2], 'hex')).toString('hex'))"
    const expected = execFileSync(process.execPath, ['--openssl-legacy-provider', '-e', script, '0123456789abcdef0123', toHex(data)], { encoding: 'utf8' })
    new Rc4(ascii('0123456789abcdef0123'), 0, useKernel).process(data)
    expect(toHex(data)).toBe(expected)
  })
})
