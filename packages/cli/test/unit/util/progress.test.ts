import { describe, it, expect } from 'vitest'
import { ProgressLine } from '../../../src/util/progress.js'

function fakeStream (isTTY: boolean): { stream: NodeJS.WriteStream, written: string[] } {
  const written: string[] = []
  const stream = { isTTY, write: (s: string) => { written.push(s); return true } } as unknown as NodeJS.WriteStream
  return { stream, written }
}

describe('ProgressLine', () => {
  it('draws in place on a TTY, throttled, always drawing completion, and clears at the end', () => {
    const { stream, written } = fakeStream(true)
    const line = new ProgressLine('hashing x', stream)
    line.update(0, 1000)
    line.update(10, 1000) // within 100 ms of the previous draw: skipped
    line.update(1000, 1000) // completion is always drawn
    line.done()
    expect(written).toHaveLength(3)
    expect(written[0]).toMatch(/^\rhashing x \[-{24}\]\s+0\.0%/)
    expect(written[1]).toMatch(/^\rhashing x \[#{24}\] 100\.0%/)
    expect(written[2]).toBe('\r\u001b[K')
  })

  it('stays silent when not on a TTY', () => {
    const { stream, written } = fakeStream(false)
    const line = new ProgressLine('x', stream)
    line.update(5, 10)
    line.done()
    expect(written).toEqual([])
  })
})
