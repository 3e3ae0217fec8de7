// Prints the closing line CI reads, `N passed, N failed`, from vitest's JSON report.
// A test file that failed to load counts as one failure; a missing report (the build failed
// before any test ran) counts as one failure too.
import { readFileSync } from 'node:fs'

let report
try {
  report = JSON.parse(readFileSync(process.argv[2], 'utf8'))
} catch {
  console.log('ci: no test report (the build or the test runner failed before tests ran)')
  console.log('0 passed, 1 failed')
  process.exit(1)
}
const brokenFiles = (report.testResults ?? []).filter((file) =>
  file.status === 'failed' && !(file.assertionResults ?? []).some((t) => t.status === 'failed')).length
const passed = report.numPassedTests ?? 0
const failed = (report.numFailedTests ?? 0) + brokenFiles
const skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0)
console.log(`${passed} passed, ${failed} failed` + (skipped > 0 ? `, ${skipped} skipped` : ''))
process.exit(failed > 0 || passed === 0 ? 1 : 0)
