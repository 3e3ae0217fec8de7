/**
 * A small synchronous typed emitter (STYLE.md §5). Not node:events (the core is platform-agnostic)
 * and not EventTarget (it allocates an event per dispatch). A listener that throws does not stop
 * the others: the error goes to `onListenerError`, which components wire to their 'warning' event.
 */

export type Listener<P> = (payload: P) => void

export class TypedEmitter<Events extends object> {
  private readonly listeners = new Map<keyof Events, Set<Listener<never>>>()
  protected onListenerError: (error: unknown, event: PropertyKey) => void = () => {}

  /** Subscribes; returns the unsubscribe function. */
  on<K extends keyof Events> (event: K, listener: Listener<Events[K]>): () => void {
    let set = this.listeners.get(event)
    if (set === undefined) {
      set = new Set()
      this.listeners.set(event, set)
    }
    set.add(listener)
    return () => { this.off(event, listener) }
  }

  /** Subscribes for the next event only. */
  once<K extends keyof Events> (event: K, listener: Listener<Events[K]>): () => void {
    const off = this.on(event, (payload) => {
      off()
      listener(payload)
    })
    return off
  }

  off<K extends keyof Events> (event: K, listener: Listener<Events[K]>): void {
    this.listeners.get(event)?.delete(listener)
  }

  /** True when someone listens, so callers can skip building a costly payload. */
  hasListeners (event: keyof Events): boolean {
    return (this.listeners.get(event)?.size ?? 0) > 0
  }

  protected emit<K extends keyof Events> (event: K, payload: Events[K]): void {
    const set = this.listeners.get(event)
    if (set === undefined || set.size === 0) return
    for (const listener of [...set]) {
      try {
        (listener as Listener<Events[K]>)(payload)
      } catch (error) {
        this.onListenerError(error, event)
      }
    }
  }

  protected removeAllListeners (): void {
    this.listeners.clear()
  }
}
