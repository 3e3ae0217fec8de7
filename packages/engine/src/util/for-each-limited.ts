/**
 * Runs an async task for every item with at most `limit` in flight, starting them in the items'
 * order. For work over thousands of torrents at once (closing an engine), where starting them all
 * together holds every task's intermediate state at the same moment.
 */
export async function forEachLimited<T> (items: readonly T[], limit: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < items.length) await task(items[next++] as T)
  }
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker))
}
