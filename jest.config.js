/** One jest run for every workspace: TypeScript sources are compiled on the fly by swc. */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/libs', '<rootDir>/services'],
  testMatch: ['**/src/**/*.test.ts'],
  transform: { '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022' } }] },
  moduleNameMapper: { '^@rnas/([a-z-]+)$': '<rootDir>/libs/$1/src' },
  testTimeout: 120000,
};
