// The API report: what @lodestone/engine exports, entry point by entry point, as
// @microsoft/api-extractor reads it from the built declarations (dist/**/*.d.ts, so run `tsc -b`
// first). The reports are checked in under packages/engine/api/; a change to the exported surface
// that is not in them fails `npm test` (test/api-report.test.ts).
//
//   node packages/engine/scripts/api-report.mjs            check every entry point (exit 1 on drift)
//   node packages/engine/scripts/api-report.mjs --update   rewrite the reports (`npm run api:update` builds first)
//   … --entry NAME=path/to/index.d.ts [--entry …]           check declaration files against api/NAME.api.md
//
// Every subpath in package.json "exports" that has "types" gets a report: "." is engine.api.md,
// "./adapters/node" engine-adapters-node.api.md, and so on, so a new subpath needs a report too.
import { CompilerState, Extractor, ExtractorConfig } from '@microsoft/api-extractor'
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

export const UPDATE_COMMAND = 'npm run api:update'
const engineDir = join(dirname(fileURLToPath(import.meta.url)), '..')
const reportFolder = join(engineDir, 'api')
const packageJsonPath = join(engineDir, 'package.json')

/** The entry points with declarations, from package.json "exports": [{ name, dts }]. */
export async function entryPoints () {
  const pkg = JSON.parse(await readFile(packageJsonPath, 'utf8'))
  return Object.entries(pkg.exports)
    .filter(([, target]) => typeof target === 'object' && typeof target.types === 'string')
    .map(([subpath, target]) => ({
      name: subpath === '.' ? 'engine' : `engine-${subpath.slice(2).replaceAll('/', '-')}`,
      dts: resolve(engineDir, target.types)
    }))
}

function extractorConfig (entry, tempFolder) {
  return ExtractorConfig.prepare({
    configObject: {
      projectFolder: engineDir,
      newlineKind: 'lf',
      mainEntryPointFilePath: entry.dts,
      compiler: {
        // Declarations only: one small program over dist/, no source type-checking (tsc did that).
        overrideTsconfig: {
          compilerOptions: {
            target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', lib: ['ES2022', 'DOM', 'DOM.Iterable'],
            types: ['node'], skipLibCheck: true, strict: true
          },
          files: [entry.dts]
        }
      },
      // The public variant leaves out members tagged @internal (engine plumbing such as Torrent's
      // constructor); untagged declarations count as public.
      apiReport: { enabled: true, reportFileName: entry.name, reportVariants: ['public'], reportFolder: tempFolder, reportTempFolder: tempFolder },
      docModel: { enabled: false },
      dtsRollup: { enabled: false },
      tsdocMetadata: { enabled: false },
      messages: {
        compilerMessageReporting: { default: { logLevel: 'warning' } },
        // A public signature naming a type its entry point does not export shows in the report as an
        // ae-forgotten-export note; release tags and TSDoc style are TypeDoc's business, not the report's.
        extractorMessageReporting: {
          default: { logLevel: 'none' },
          'ae-forgotten-export': { logLevel: 'none', addToApiReportFile: true }
        },
        tsdocMessageReporting: { default: { logLevel: 'none' } }
      }
    },
    configObjectFullPath: undefined,
    packageJsonFullPath: packageJsonPath
  })
}

const ROOT_REPORT = 'engine'

/** The names a report's declarations export (`export declare class X`, `export type X = …`, …). */
function exportedNames (report) {
  return new Set([...report.matchAll(/^export (?:declare )?(?:abstract )?(?:class|function|const|let|interface|type|enum|namespace) (\w+)/gm)].map((m) => m[1]))
}

/**
 * Drops the entry point's file name from notes, and api-extractor's closing "Warnings were encountered during analysis" list: it repeats notes
 * about declarations the public report leaves out (@internal members) with source line numbers, so
 * any edit above them would look like an API change.
 */
function normalized (report) {
  return report
    .replace(/\/\/ Warnings were encountered during analysis:\n(?:\/\/.*\n)*\n?/, '')
    // Which file the entry point is does not matter, only what it exports.
    .replace(/ needs to be exported by the entry point \S+/g, ' is not exported by this entry point')
}

function isForgottenRootExport (line, rootNames) {
  const match = /^\s*\/\/ Warning: \(ae-forgotten-export\) The symbol "(\w+)"/.exec(line)
  return match !== null && rootNames.has(match[1])
}

/** Lines only in `a`, in order (a cheap diff that names what was added or removed). */
function linesOnlyIn (a, b) {
  const other = new Set(b.split('\n'))
  return a.split('\n').filter((line) => line.trim() !== '' && !other.has(line))
}

/**
 * Generates the report of each entry and compares it with the checked-in one (or rewrites it when
 * `update`). Returns `{ ok, problems }`; each problem says which report and which lines differ.
 */
export async function runApiReports ({ update = false, entries } = {}) {
  entries ??= await entryPoints()
  const tempFolder = await mkdtemp(join(tmpdir(), 'lodestone-api-'))
  const problems = []
  let rootNames
  try {
    const configs = entries.map((entry) => ({ entry, config: extractorConfig(entry, tempFolder) }))
    const compilerState = CompilerState.create(configs[0].config, { additionalEntryPoints: entries.map((e) => e.dts) })
    for (const { entry, config } of configs) {
      const errors = []
      const result = Extractor.invoke(config, {
        localBuild: true,
        compilerState,
        messageCallback: (message) => {
          if (message.logLevel === 'error' || message.logLevel === 'warning') errors.push(message.formatMessageWithoutLocation?.() ?? message.text)
          message.handled = true
        }
      })
      if (!result.succeeded || errors.length > 0) {
        problems.push(`${entry.name} (${entry.dts}): api-extractor failed:\n  ${errors.join('\n  ')}`)
        continue
      }
      const reportPath = join(reportFolder, `${entry.name}.api.md`)
      const expected = await readFile(reportPath, 'utf8').catch(() => null)
      let actual = normalized(await readFile(join(tempFolder, `${entry.name}.public.api.md`), 'utf8'))
      if (entry.name === ROOT_REPORT) {
        rootNames = exportedNames(actual)
        // An application must be able to name every type the root's API shows it (a new settings
        // section, a stats object, an event payload): the root exports them all.
        const forgotten = [...new Set([...actual.matchAll(/\(ae-forgotten-export\) The symbol "(\w+)"/g)].map((m) => m[1]))]
        if (forgotten.length > 0) {
          problems.push(`${entry.name} (${relative(engineDir, entry.dts)}): the public API names types the root does not export: ` +
            `${forgotten.join(', ')}. Export each from packages/engine/src/index.ts, or tag the member that names it @internal.`)
        }
      } else {
        // Other entry points name the root's types without re-exporting them; that is no omission.
        rootNames ??= exportedNames(await readFile(join(reportFolder, `${ROOT_REPORT}.api.md`), 'utf8').catch(() => ''))
        actual = actual.split('\n').filter((line) => !isForgottenRootExport(line, rootNames)).join('\n')
      }
      if (actual === expected) continue
      if (update) {
        await mkdir(reportFolder, { recursive: true })
        await writeFile(reportPath, actual)
        process.stdout.write(`api-report: updated ${reportPath}\n`)
        continue
      }
      if (expected === null) {
        problems.push(`${entry.name}: no report at ${reportPath}`)
        continue
      }
      const added = linesOnlyIn(actual, expected).map((l) => `  + ${l}`)
      const removed = linesOnlyIn(expected, actual).map((l) => `  - ${l}`)
      problems.push(`${entry.name} (${relative(engineDir, entry.dts)}): the exported surface differs from ${reportPath}:\n${[...added, ...removed].slice(0, 40).join('\n')}`)
    }
  } finally {
    await rm(tempFolder, { recursive: true, force: true })
  }
  return { ok: problems.length === 0, problems }
}

/** The message a failed check prints: what differs and the one command that accepts it. */
export function driftMessage (problems) {
  return `${problems.join('\n')}\n\nThe public API of @lodestone/engine changed. If that is intended, run \`${UPDATE_COMMAND}\` ` +
    '(it builds, then rewrites the reports) and commit packages/engine/api/*.api.md with the change; otherwise stop exporting the name ' +
    '(lower-level building blocks belong in src/protocol-api.ts, `@lodestone/engine/protocol`). A name added to or removed ' +
    'from the root also goes in README.md\'s "The root exports" list.'
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2)
  const update = args.includes('--update')
  const entryArgs = args.flatMap((arg, i) => arg === '--entry' && args[i + 1] !== undefined ? [args[i + 1]] : [])
  const entries = entryArgs.length > 0
    ? entryArgs.map((arg) => ({ name: arg.slice(0, arg.indexOf('=')), dts: resolve(arg.slice(arg.indexOf('=') + 1)) }))
    : undefined
  const { ok, problems } = await runApiReports({ update, entries })
  if (!ok) {
    process.stderr.write(`${driftMessage(problems)}\n`)
    process.exit(1)
  }
}
