/**
 * The RC4 keystream loop as a small WebAssembly module, written here instruction by instruction
 * (no toolchain, no binary blob: the bytes are assembled from the listing below on first use).
 *
 * Why: RC4 is a chain of S-box loads and stores per byte, and in JavaScript every one of them
 * carries a typed-array bounds check. In WebAssembly the S-box and the data sit in linear memory
 * that V8 guards with address-space reservation, so the loop keeps only the work RC4 needs, and it
 * XORs eight bytes of data per step. Measured against the JavaScript word loop on this project's
 * machine (bench/micro/mse.bench.ts): ~770 vs ~690 MiB/s in place, ~750 with the copies in and
 * out that {@link Rc4} makes (the module cannot see the caller's buffer), and ~1.6x the JavaScript
 * byte loop that buffers without a cached 32-bit view take (every sent block).
 *
 * Portable: WebAssembly is a web standard (Node, browsers, workers). Where it is missing or
 * refused (a page whose content security policy forbids compiling it), {@link rc4Kernel} returns
 * null and the JavaScript loop does the work.
 *
 * Memory layout (one 64 KiB page per instance, shared by every cipher in the process, which
 * copies its state in and out per call): S-box at 0..255, i at 256 and j at 260 (u32), data at
 * {@link RC4_KERNEL_DATA_OFFSET}, up to {@link RC4_KERNEL_DATA_BYTES} per call.
 */

/** Where the data to transform goes in the kernel's memory. */
export const RC4_KERNEL_DATA_OFFSET = 1_024
/** The most bytes one kernel call transforms. */
export const RC4_KERNEL_DATA_BYTES = 65_536 - RC4_KERNEL_DATA_OFFSET

export interface Rc4Kernel {
  /** The module's memory. */
  readonly memory: Uint8Array
  /** The S-box, a view of `memory`. */
  readonly sbox: Uint8Array
  /** `memory` as u32: i at [64], j at [65]. */
  readonly words: Uint32Array
  /** XORs `length` keystream bytes into memory at `offset`, advancing the state in memory. */
  readonly run: (offset: number, length: number) => void
}

// --- a minimal assembler: just what the listing uses ----------------------------------------

function uleb (n: number): number[] {
  const out: number[] = []
  do {
    let byte = n & 0x7f
    n >>>= 7
    if (n !== 0) byte |= 0x80
    out.push(byte)
  } while (n !== 0)
  return out
}

function sleb (n: number): number[] {
  const out: number[] = []
  for (;;) {
    const byte = n & 0x7f
    n >>= 7
    if ((n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0)) {
      out.push(byte)
      return out
    }
    out.push(byte | 0x80)
  }
}

type Code = number | Code[]
const get = (local: number): Code => [0x20, ...uleb(local)]
const set = (local: number): Code => [0x21, ...uleb(local)]
const tee = (local: number): Code => [0x22, ...uleb(local)]
const i32 = (value: number): Code => [0x41, ...sleb(value)]
const ADD = 0x6a
const AND = 0x71
const OR = 0x72
const XOR = 0x73
const SHL = 0x74
const GE_U = 0x4f
/** Memory access: opcode, alignment (log2) and a constant offset. */
const mem = (opcode: number, align: number, offset = 0): Code => [opcode, align, ...uleb(offset)]
const load8 = (offset = 0): Code => mem(0x2d, 0, offset)
const store8 = (offset = 0): Code => mem(0x3a, 0, offset)
const load32 = (offset = 0): Code => mem(0x28, 2, offset)
const store32 = (offset = 0): Code => mem(0x36, 2, offset)
const BLOCK = [0x02, 0x40]
const LOOP = [0x03, 0x40]
const END = 0x0b
const brIf = (depth: number): Code => [0x0d, depth]
const br = (depth: number): Code => [0x0c, depth]

// --- the listing: rc4(ptr, len) -------------------------------------------------------------

// Locals: the two parameters, then i, j, a, b, end, x, y, k, wordsEnd.
const PTR = 0
const LEN = 1
const I = 2
const J = 3
const A = 4
const B = 5
const END_PTR = 6
const X = 7
const Y = 8
const K = 9
const WORDS_END = 10
const LOCAL_COUNT = 9

/**
 * One RC4 step, leaving the keystream byte on the stack. j is kept unmasked (it wraps at 2^32, a
 * multiple of 256) so the loop-carried chain is a single add; k = j & 255 indexes the S-box.
 */
const step: Code = [
  get(I), i32(1), ADD, i32(255), AND, tee(I), load8(), set(A), // i = i + 1; a = S[i]
  get(J), get(A), ADD, tee(J), i32(255), AND, tee(K), load8(), set(B), // j += a; b = S[j]
  get(I), get(B), store8(), get(K), get(A), store8(), // swap S[i], S[j]
  get(A), get(B), ADD, i32(255), AND, load8() // S[a + b]
]

/** Four steps packed little-endian into local `to`. */
const fourSteps = (to: number): Code => [
  step, set(to),
  step, i32(8), SHL, get(to), OR, set(to),
  step, i32(16), SHL, get(to), OR, set(to),
  step, i32(24), SHL, get(to), OR, set(to)
]

const body: Code = [
  // Load the state; end = ptr + len; wordsEnd = ptr + (len & ~7).
  i32(0), load32(256), set(I), i32(0), load32(260), set(J),
  get(PTR), get(LEN), ADD, set(END_PTR),
  get(PTR), get(LEN), i32(-8), AND, ADD, set(WORDS_END),
  // Eight bytes per step: two keystream words XORed into the data.
  BLOCK, LOOP,
  get(PTR), get(WORDS_END), GE_U, brIf(1),
  fourSteps(X), fourSteps(Y),
  get(PTR), get(PTR), load32(), get(X), XOR, store32(),
  get(PTR), get(PTR), load32(4), get(Y), XOR, store32(4),
  get(PTR), i32(8), ADD, set(PTR),
  br(0), END, END,
  // The last 0-7 bytes one at a time.
  BLOCK, LOOP,
  get(PTR), get(END_PTR), GE_U, brIf(1),
  get(PTR), get(PTR), load8(), step, XOR, store8(),
  get(PTR), i32(1), ADD, set(PTR),
  br(0), END, END,
  // Store the state (j masked back to a byte).
  i32(0), get(I), store32(256), i32(0), get(J), i32(255), AND, store32(260),
  END
]

function flatten (code: Code, out: number[] = []): number[] {
  if (typeof code === 'number') out.push(code)
  else for (const c of code) flatten(c, out)
  return out
}

function vector (items: number[][]): number[] { return [...uleb(items.length), ...items.flat()] }
function section (id: number, content: number[]): number[] { return [id, ...uleb(content.length), ...content] }
function name (text: string): number[] { return vector([...text].map((c) => [c.charCodeAt(0)])) }

/** The module: one memory page (exported as "memory"), one function (i32, i32) -> () exported as "rc4". */
export function assembleRc4Module (): Uint8Array<ArrayBuffer> {
  const code = [...uleb(1), ...uleb(LOCAL_COUNT), 0x7f, ...flatten(body)]
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version 1
    ...section(1, vector([[0x60, 2, 0x7f, 0x7f, 0]])), // type 0: (i32, i32) -> ()
    ...section(3, vector([[0]])), // function 0 has type 0
    ...section(5, vector([[0x00, 1]])), // memory 0: 1 page, no maximum
    ...section(7, vector([[...name('memory'), 0x02, 0], [...name('rc4'), 0x00, 0]])),
    ...section(10, vector([[...uleb(code.length), ...code]]))
  ])
}

/** What the core needs of the WebAssembly global (not in its ES2022 lib). */
interface WasmGlobal {
  Module: new (bytes: Uint8Array) => object
  Instance: new (module: object) => { exports: { memory?: { buffer: ArrayBuffer }, rc4?: (offset: number, length: number) => void } }
}

let kernel: Rc4Kernel | null | undefined

/** The process-wide kernel, instantiated on first use; null when WebAssembly is unavailable. */
export function rc4Kernel (): Rc4Kernel | null {
  if (kernel !== undefined) return kernel
  kernel = null
  const wasm = (globalThis as { WebAssembly?: WasmGlobal }).WebAssembly
  if (wasm === undefined) return null
  try {
    const { exports } = new wasm.Instance(new wasm.Module(assembleRc4Module()))
    if (exports.memory === undefined || exports.rc4 === undefined) return null
    const buffer = exports.memory.buffer
    kernel = { memory: new Uint8Array(buffer), sbox: new Uint8Array(buffer, 0, 256), words: new Uint32Array(buffer, 0, 66), run: exports.rc4 }
  } catch {
    // Compiling WebAssembly can be forbidden (content security policy): the JavaScript loop serves.
  }
  return kernel
}
