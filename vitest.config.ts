import { defineConfig } from 'vitest/config'

// One project per test kind (STYLE.md §10). Interop tests start real clients, so they run one
// file at a time with generous timeouts; everything else runs in parallel. Every project loads the
// network guard (test-guard/): a socket that tries to reach beyond loopback fails its test.
const setupFiles = ['./test-guard/vitest-setup.mjs']

export default defineConfig({
  test: {
    reporters: ['default', ['json', { outputFile: '.reports/vitest.json' }]],
    projects: [
      {
        test: {
          name: 'unit',
          setupFiles,
          // Most unit files wait on sockets, files and child processes, not the CPU: three at a time
          // on CI's two cores (vitest's default would be one).
          maxWorkers: 3,
          include: ['packages/*/test/unit/**/*.test.ts', 'packages/*/test/contracts/**/*.test.ts', 'packages/*/test/*.test.ts', 'fuzz/**/*.test.ts'],
          testTimeout: 20_000
        }
      },
      {
        test: {
          name: 'swarm',
          setupFiles,
          maxWorkers: 3,
          include: ['packages/*/test/swarm/**/*.test.ts'],
          testTimeout: 60_000
        }
      },
      {
        test: {
          // Headless Chromium (Debian's chromium + playwright-core): the core in a real browser.
          name: 'browser',
          setupFiles,
          include: ['packages/*/test/browser/**/*.test.ts'],
          testTimeout: 180_000,
          hookTimeout: 60_000,
          fileParallelism: false
        }
      },
      {
        test: {
          name: 'interop',
          setupFiles,
          include: ['interop/**/*.test.ts'],
          testTimeout: 180_000,
          hookTimeout: 60_000,
          fileParallelism: false
        }
      }
    ]
  }
})
