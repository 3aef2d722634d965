// For the tests of job services (not for production): callers with fabricated principals, and a
// worker that keeps its job unfinished until it is cancelled or the service stops.
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { ANONYMOUS, type Authenticate, type Role } from '@rnas/grpc';

/** The request metadata a test caller names its subject in. */
export const TEST_SUBJECT_HEADER = 'x-test-subject';
/** The request metadata a test caller names its role in (`admin`; anything else is `user`). */
export const TEST_ROLE_HEADER = 'x-test-role';

/**
 * An `authenticate` option that believes the caller: the principal its test headers name, ANONYMOUS
 * without them. Tests only: it authenticates nothing.
 */
export const testPrincipals: Authenticate = (metadata) => {
  const subject = metadata.get(TEST_SUBJECT_HEADER)[0];
  if (typeof subject !== 'string') return ANONYMOUS;
  return {
    subject,
    role: metadata.get(TEST_ROLE_HEADER)[0] === 'admin' ? 'admin' : 'user',
    authenticated: true,
  };
};

/** The call options of a test caller that is `subject` (under testPrincipals). */
export function callerOptions(subject: string, role: Role = 'user'): { metadata: Record<string, string> } {
  return { metadata: { [TEST_SUBJECT_HEADER]: subject, [TEST_ROLE_HEADER]: role } };
}

/**
 * Writes, in `dir`, a job worker that emits nothing and never finishes by itself: it ends when its
 * job is cancelled, or is terminated when the service stops. Needs this package built (dist/).
 */
export function writeIdleWorker(dir: string): string {
  const script = path.join(dir, 'idle-job-worker.js');
  const jobs = path.resolve(__dirname, '..', 'dist', 'index.js');
  writeFileSync(
    script,
    `const { serveWorkerTask } = require(${JSON.stringify(jobs)});
serveWorkerTask((_input, { signal }) => new Promise((_resolve, reject) => {
  signal.addEventListener('abort', () => reject(new Error('cancelled')), { once: true });
}));
`,
  );
  return script;
}
