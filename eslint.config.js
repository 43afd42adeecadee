// Lint is mostly about one thing here: the engine stays pure. No clock, no randomness, no I/O.
import tseslint from 'typescript-eslint';

const impure = {
  'no-restricted-globals': [
    'error',
    { name: 'process', message: 'engine/ is pure: pass configuration in as data.' },
    { name: 'fetch', message: 'engine/ is pure: no network.' },
    { name: 'setTimeout', message: 'engine/ is pure: no timers.' },
    { name: 'setInterval', message: 'engine/ is pure: no timers.' },
    { name: 'performance', message: 'engine/ is pure: time is an input.' },
    { name: 'crypto', message: 'engine/ is pure: randomness is an input (seed).' },
    { name: 'require', message: 'engine/ is pure: static imports only.' },
  ],
  'no-restricted-properties': [
    'error',
    { object: 'Date', property: 'now', message: 'engine/ is pure: `now` is an input.' },
    { object: 'Math', property: 'random', message: 'engine/ is pure: use the seeded generator.' },
  ],
  'no-restricted-syntax': [
    'error',
    { selector: "NewExpression[callee.name='Date'][arguments.length=0]", message: 'engine/ is pure: `now` is an input.' },
  ],
  'no-restricted-imports': [
    'error',
    {
      patterns: [
        { group: ['node:*', 'fs', 'path', 'os', 'http', 'https', 'net', 'child_process', 'crypto'], message: 'engine/ is pure: no Node built-ins.' },
        { group: ['express', 'undici', '@opentelemetry/*', 'pino', 'better-sqlite3', 'ioredis', 'pg'], message: 'engine/ is pure: no I/O libraries.' },
        { group: ['**/sidecar/**'], message: 'engine/ must not depend on the sidecar.' },
      ],
    },
  ],
};

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', '**/*.test.ts'] },
  {
    files: ['engine/**/*.ts', 'sidecar/**/*.ts'],
    languageOptions: { parser: tseslint.parser },
    plugins: { '@typescript-eslint': tseslint.plugin },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      'no-console': 'error',
    },
  },
  { files: ['engine/**/*.ts'], rules: impure },
  { files: ['sidecar/cli/**/*.ts', 'sidecar/cli.ts', 'sidecar/server.ts'], rules: { 'no-console': 'off' } },
);
