/**
 * When a uTP connection's `send()` turns false and when `onDrain` fires: the configured marks,
 * raised with the window the connection may have in flight.
 *
 * Why: the application refills the send queue only after `onDrain` (a PeerConnection then reads
 * the next blocks from disk, an asynchronous round through the thread pool and a loaded event
 * loop). With fixed marks of 128 KiB / 32 KiB, a connection sending 20 MB/s emptied its last
 * 32 KiB in under 2 ms and sat idle until the refill came: a trace of bench/utp/bottleneck.mjs
 * showed the sender with nothing queued in 23 of 31 samples while less than its window was in
 * flight. Keeping at least one window queued when `onDrain` fires covers a refill that takes as
 * long as a round trip, whatever the rate; slow connections keep the small fixed marks.
 */

/** Window contribution cap: the marks stay under 2 × this (4 MiB) however large the window. */
const MAX_WINDOW_FOR_MARKS = 2_097_152

/** `send()` returns false once more than this waits to be sent. */
export function sendHighWaterMark (settingBytes: number, windowBytes: number): number {
  return Math.max(settingBytes, 2 * Math.min(windowBytes, MAX_WINDOW_FOR_MARKS))
}

/** After `send()` returned false, `onDrain` fires once no more than this waits. */
export function sendLowWaterMark (settingBytes: number, windowBytes: number): number {
  return Math.max(settingBytes, Math.min(windowBytes, MAX_WINDOW_FOR_MARKS))
}
