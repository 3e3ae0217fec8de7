/** Entry point of the `lodestone` command; returns the process exit code. */
export async function main (argv: string[]): Promise<number> {
  await Promise.resolve()
  process.stdout.write(`lodestone: ${argv.join(' ')}\n`)
  return 0
}
