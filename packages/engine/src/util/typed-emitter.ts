/**
 * A small synchronous typed emitter (STYLE.md §5). Not node:events (the core is platform-agnostic)
 * and not EventTarget (it allocates an event per dispatch). A listener that throws does not stop
 * the others: the error goes to `onListenerError`, which components wire to their 'warning' event.
 */

export type Listener<P> = (payload: P) => void
/** A listener to every event of an emitter: the event's name and payload. */
export type AnyListener<Events> = <K extends keyof Events>(event: K, payload: Events[K]) => void

export class TypedEmitter<Events extends object> {
  /**
   * Per event, its listeners in subscription order, each once. Arrays, not Sets: a Set costs ~150
   * bytes even holding one listener, and a torrent had 8 such sets (issue 13, 10 000 torrents).
   */
  private readonly listeners = new Map<keyof Events, Array<Listener<never>>>()
  /** Listeners to every event (see {@link onAny}); null until the first. */
  private anyListeners: Set<AnyListener<Events>> | null = null
  protected onListenerError: (error: unknown, event: PropertyKey) => void = () => {}

  /** Subscribes; returns the unsubscribe function. */
  on<K extends keyof Events> (event: K, listener: Listener<Events[K]>): () => void {
    const list = this.listeners.get(event)
    if (list === undefined) this.listeners.set(event, [listener])
    else if (!list.includes(listener)) list.push(listener)
    return () => { this.off(event, listener) }
  }

  /**
   * Subscribes to every event, after the event's own listeners. One listener where a watcher of
   * many events would otherwise hold a listener set per event: the alert queue watching 10 000
   * torrents kept ~16 sets and closures per torrent (≈ 5 KB each). @internal
   */
  onAny (listener: AnyListener<Events>): () => void {
    this.anyListeners ??= new Set()
    this.anyListeners.add(listener)
    return () => { this.anyListeners?.delete(listener) }
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
    const list = this.listeners.get(event)
    if (list === undefined) return
    const i = list.indexOf(listener)
    if (i >= 0) list.splice(i, 1)
  }

  /** True when someone listens, so callers can skip building a costly payload. */
  hasListeners (event: keyof Events): boolean {
    return (this.listeners.get(event)?.length ?? 0) > 0 || (this.anyListeners?.size ?? 0) > 0
  }

  protected emit<K extends keyof Events> (event: K, payload: Events[K]): void {
    const list = this.listeners.get(event)
    if (list !== undefined && list.length > 0) {
      // A copy: listeners may subscribe or unsubscribe while this runs.
      for (const listener of list.slice()) {
        try {
          (listener as Listener<Events[K]>)(payload)
        } catch (error) {
          this.onListenerError(error, event)
        }
      }
    }
    if (this.anyListeners !== null && this.anyListeners.size > 0) this.emitAny(event, payload)
  }

  protected removeAllListeners (): void {
    this.listeners.clear()
    this.anyListeners = null
  }

  private emitAny<K extends keyof Events> (event: K, payload: Events[K]): void {
    for (const listener of [...this.anyListeners ?? []]) {
      try {
        listener(event, payload)
      } catch (error) {
        this.onListenerError(error, event)
      }
    }
  }
}
