/**
 * {@link IClock} for browsers and workers: `performance.now()` (monotonic), `Date.now()` (wall) and
 * the page's timers. The Node adapter's SystemClock already uses only these globals; this is it
 * without unref (a browser has no such notion), so the browser build need not know about Node.
 */
import { SystemClock } from '../node/node-clock.js'

export class BrowserClock extends SystemClock {
  constructor () { super({ unref: false }) }
}
