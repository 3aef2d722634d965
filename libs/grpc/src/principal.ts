// Who is calling: the subject a credential authenticated (a bearer token's entry in the token file,
// or a client certificate's subject under mutual TLS) and its role. Jobs record the subject; a
// user sees only their own jobs, an admin sees all.

/** `user` sees and cancels its own jobs; `admin` sees and cancels every job. */
export type Role = 'user' | 'admin';

export interface Principal {
  /** The subject jobs are recorded under and quotas are counted for. */
  readonly subject: string;
  readonly role: Role;
  /** False when the service runs without authentication (no `--auth-tokens`, no client CA). */
  readonly authenticated: boolean;
}

/**
 * The caller of a service that runs without authentication: a single tenant that owns every job
 * (an admin), so listing and cancelling behave as they did before authentication existed.
 */
export const ANONYMOUS: Principal = Object.freeze({
  subject: 'anonymous',
  role: 'admin',
  authenticated: false,
});

/** Whether `principal` may see (list, read, watch, cancel) a job recorded under `owner`. */
export function canAccess(principal: Principal, owner: string): boolean {
  return principal.role === 'admin' || principal.subject === owner;
}
