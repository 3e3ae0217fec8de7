import tseslint from 'typescript-eslint'

export default tseslint.config(
  { ignores: ['**/dist/**', 'node_modules/**', '.reports/**', '.ci/**', 'bench/**/*.mjs', 'interop/**/*.mjs', 'fuzz/**/*.mjs', 'test-guard/**/*.mjs', 'packages/*/scripts/*.mjs', '**/bin/*.js', 'interop/tracker/node-datachannel-stub/**', 'packages/engine/src/platform-globals.d.ts', 'packages/daemon/web/**'] },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: { allowDefaultProject: ['*.js', '*.ts'] }, tsconfigRootDir: import.meta.dirname }
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/only-throw-error': 'error',
      '@typescript-eslint/return-await': ['error', 'in-try-catch'],
      '@typescript-eslint/consistent-type-imports': 'error',
      'max-depth': ['error', 4]
    }
  },
  {
    files: ['packages/engine/src/**/*.ts'],
    rules: {
      'no-console': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      'no-restricted-imports': ['error', { patterns: [{ group: ['node:*', 'fs', 'net', 'dgram', 'crypto', 'path', 'os', 'events', 'stream', 'worker_threads'], message: 'packages/engine/src is platform-agnostic (DESIGN rule 1): reach the platform through src/interfaces.' }] }]
    }
  },
  {
    files: ['**/test/**/*.ts', 'interop/**/*.ts', 'bench/**/*.ts', 'fuzz/**/*.ts'],
    // Fakes implement async ports without awaiting, and tests poke at untyped JSON from child
    // processes; the promise rules stay on.
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/unbound-method': 'off'
    }
  },
  {
    // Page-side code in browser tests reaches globals the test page sets up (window.L, window.engine…).
    files: ['packages/*/test/browser/**/*.ts', 'bench/browser/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' }
  }
)
