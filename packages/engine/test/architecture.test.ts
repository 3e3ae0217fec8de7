// DESIGN rule 1: packages/engine/src is platform-agnostic. tsconfig.core.json already refuses
// Node types there; this test also catches imports of Node built-ins and Buffer in any form.
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { builtinModules } from 'node:module'
import { join, relative } from 'node:path'
import { describe, expect, it } from 'vitest'

const srcDir = join(import.meta.dirname, '..', 'src')

function sourceFiles (dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) return sourceFiles(path)
    return path.endsWith('.ts') ? [path] : []
  })
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
})
