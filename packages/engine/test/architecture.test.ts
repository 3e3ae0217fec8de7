// DESIGN rule 1: packages/engine/src is platform-agnostic. tsconfig.core.json already refuses
// Node types there; this test also catches imports of Node built-ins and Buffer in any form.
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { builtinModules } from 'node:module'
import { dirname, join, relative, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'

const srcDir = join(import.meta.dirname, '..', 'src')

function sourceFiles (dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) return sourceFiles(path)
    return path.endsWith('.ts') ? [path] : []
  })
}

/** Source files may not grow past this (STYLE: small modules named after their one concept). */
const MAX_SOURCE_LINES = 800

/** Relative imports of each file (type-only ones included: they tie modules together too). */
function importGraph (files: string[]): Map<string, string[]> {
  const graph = new Map<string, string[]>()
  for (const file of files) {
    const deps: string[] = []
    for (const match of readFileSync(file, 'utf8').matchAll(importPattern)) {
      const spec = match[1] ?? match[2] ?? match[3] ?? ''
      if (spec.startsWith('.')) deps.push(resolve(dirname(file), spec.replace(/\.js$/, '.ts')))
    }
    graph.set(file, deps)
  }
  return graph
}

/** Every import cycle, as the files of each strongly connected component (Tarjan). */
export function findCycles (graph: ReadonlyMap<string, readonly string[]>): string[][] {
  let next = 0
  const index = new Map<string, number>()
  const low = new Map<string, number>()
  const stack: string[] = []
  const onStack = new Set<string>()
  const cycles: string[][] = []
  const visit = (v: string): void => {
    index.set(v, next)
    low.set(v, next)
    next++
    stack.push(v)
    onStack.add(v)
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue
      if (!index.has(w)) {
        visit(w)
        low.set(v, Math.min(low.get(v)!, low.get(w)!))
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!))
      }
    }
    if (low.get(v) !== index.get(v)) return
    const component: string[] = []
    let w: string
    do {
      w = stack.pop()!
      onStack.delete(w)
      component.push(w)
    } while (w !== v)
    if (component.length > 1 || (graph.get(v) ?? []).includes(v)) cycles.push(component.sort())
  }
  for (const v of graph.keys()) if (!index.has(v)) visit(v)
  return cycles
}

const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]))
const importPattern = /(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|require\(\s*['"]([^'"]+)['"]\s*\)/g

describe('architecture', () => {
  const files = sourceFiles(srcDir)

  it('finds the core sources', () => {
    expect(files.length).toBeGreaterThan(5)
  })

  it('imports no Node built-in from packages/engine/src', () => {
    const offenders: string[] = []
    for (const file of files) {
      const text = readFileSync(file, 'utf8')
      for (const match of text.matchAll(importPattern)) {
        const spec = match[1] ?? match[2] ?? match[3] ?? ''
        if (builtins.has(spec) || spec.startsWith('node:')) offenders.push(`${relative(srcDir, file)}: ${spec}`)
      }
    }
    expect(offenders).toEqual([])
  })

  // Timers are refused by tsconfig.core.json (no Node or DOM types), which `npm test` runs.
  it('uses no Buffer or process in packages/engine/src', () => {
    const offenders: string[] = []
    const forbidden = /\b(Buffer\s*[.(<]|process\.)/
    for (const file of files) {
      const lines = readFileSync(file, 'utf8').split('\n')
      lines.forEach((line, i) => {
        const code = line.replace(/\/\/.*$/, '')
        if (forbidden.test(code)) offenders.push(`${relative(srcDir, file)}:${i + 1}: ${line.trim()}`)
      })
    }
    expect(offenders).toEqual([])
  })

  it('the rule check itself catches an offending import', () => {
    const sample = "import { readFile } from 'node:fs'\nconst b = Buffer.from('x')"
    const specs = [...sample.matchAll(importPattern)].map((m) => m[1])
    expect(specs).toEqual(['node:fs'])
  })

  it('has no import cycle inside packages/engine/src', () => {
    const cycles = findCycles(importGraph(files)).map((c) => c.map((f) => relative(srcDir, f)).join(' → '))
    expect(cycles).toEqual([])
  })

  it('the cycle check itself finds cycles, self-imports included, and passes a tree', () => {
    const graph = new Map([['a', ['b']], ['b', ['c']], ['c', ['a']], ['d', ['d']], ['e', ['a', 'x']]])
    expect(findCycles(graph)).toEqual([['a', 'b', 'c'], ['d']])
    expect(findCycles(new Map([['a', ['b', 'c']], ['b', ['c']], ['c', []]]))).toEqual([])
  })

  it(`keeps every source file under packages/engine/src at ${MAX_SOURCE_LINES} lines or fewer`, () => {
    const tooLong = files
      .map((file) => ({ file: relative(srcDir, file), lines: readFileSync(file, 'utf8').split('\n').length - 1 }))
      .filter(({ lines }) => lines > MAX_SOURCE_LINES)
    expect(tooLong).toEqual([])
  })
})
