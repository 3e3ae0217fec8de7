// `npm run build:browser`: bundles packages/engine/bundle/browser.ts into one ES module for
// browsers, packages/engine/dist/browser/lodestone.js (+ source map and esbuild's metafile), and
// reports its size. The build fails if anything pulls in a Node built-in: platform 'browser'
// leaves none resolvable, and the check below refuses any that slipped through as external.
import { build } from 'esbuild'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { gzipSync } from 'node:zlib'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const engineDir = join(dirname(fileURLToPath(import.meta.url)), '..')
const outfile = join(engineDir, 'dist', 'browser', 'lodestone.js')
await mkdir(dirname(outfile), { recursive: true })

const result = await build({
  entryPoints: [join(engineDir, 'bundle', 'browser.ts')],
  outfile,
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  minify: process.argv.includes('--no-minify') ? false : true,
  sourcemap: true,
  metafile: true,
  legalComments: 'none',
  logLevel: 'warning'
})

const nodeImports = Object.values(result.metafile.inputs)
  .flatMap((input) => input.imports)
  .filter((i) => i.path.startsWith('node:') || i.external === true)
if (nodeImports.length > 0) {
  console.error('build:browser: the bundle imports', nodeImports.map((i) => i.path).join(', '))
  process.exit(1)
}
await writeFile(join(dirname(outfile), 'meta.json'), JSON.stringify(result.metafile))
const code = await readFile(outfile)
const gz = gzipSync(code, { level: 9 }).length
const kib = (n) => `${(n / 1024).toFixed(1)} KiB`
console.log(`build:browser: ${outfile} ${kib(code.length)} (gzip ${kib(gz)}), ${Object.keys(result.metafile.inputs).length} modules`)
