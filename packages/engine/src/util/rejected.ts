/**
 * A promise rejected with `thrown`, a caught value that need not be an Error: what a throw inside an
 * async function gives, for functions kept synchronous on a hot path that must still never throw
 * to their caller.
 */
export function rejected (thrown: unknown): Promise<never> {
  // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- passes on what was caught, Error or not
  return Promise.reject(thrown)
}
