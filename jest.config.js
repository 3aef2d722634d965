/** One jest run for every workspace: TypeScript sources are compiled on the fly by swc. */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/libs', '<rootDir>/services', '<rootDir>/bench', '<rootDir>/deploy'],
  testMatch: ['**/src/**/*.test.ts'],
  transform: { '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022' } }] },
  moduleNameMapper: {
    '^@rnas/inference$': '<rootDir>/services/inference/src',
    '^@rnas/search-service$': '<rootDir>/services/search/src',
    '^@rnas/training-service$': '<rootDir>/services/training/src',
    '^@rnas/([a-z-]+)$': '<rootDir>/libs/$1/src',
  },
  // Worker threads and spawned services run compiled code: build once before any test file runs.
  globalSetup: '<rootDir>/scripts/jest-global-setup.js',
  testTimeout: 120000,
};
