// Where the three services are found: the one table of their well-known ports (README.md lists
// the same), the variables clients read their addresses from, and free ports for runs that
// start services of their own.
import { createServer, type Server } from 'node:net';

export interface ServiceEndpoint {
  /** The full gRPC service name, as health and reflection know it. */
  readonly service: string;
  /** The well-known gRPC port. */
  readonly port: number;
  /** The well-known port of the Prometheus `/metrics` endpoint. */
  readonly metricsPort: number;
  /** The environment variable clients take the address from when no `--addr` is given. */
  readonly addressEnv: string;
}

/** The well-known endpoints of the services (gRPC port, metrics port, address variable). */
export const SERVICE_ENDPOINTS = {
  search: {
    service: 'relativenas.v1.SearchService',
    port: 50051,
    metricsPort: 9091,
    addressEnv: 'RNAS_SEARCH_ADDR',
  },
  training: {
    service: 'relativenas.v1.TrainingService',
    port: 50052,
    metricsPort: 9092,
    addressEnv: 'RNAS_TRAINING_ADDR',
  },
  inference: {
    service: 'relativenas.v1.InferenceService',
    port: 50053,
    metricsPort: 9093,
    addressEnv: 'RNAS_INFERENCE_ADDR',
  },
} as const satisfies Record<string, ServiceEndpoint>;

export type ServiceKind = keyof typeof SERVICE_ENDPOINTS;

/** The address a client uses when nothing else says: the well-known port on localhost. */
export function defaultAddress(kind: ServiceKind): string {
  return `localhost:${SERVICE_ENDPOINTS[kind].port}`;
}

/**
 * `count` distinct ports the kernel reports free on `host`. All are held until all are chosen, so
 * they differ; another process may still take one before its user binds it (the bind then fails
 * with a message saying the port is in use).
 */
export async function freePorts(count: number, host = '127.0.0.1'): Promise<number[]> {
  if (!Number.isInteger(count) || count < 0 || count > 1024) {
    throw new Error(`freePorts: expected a count in 0..1024, got ${count}`);
  }
  const servers: Server[] = [];
  try {
    const ports: number[] = [];
    for (let i = 0; i < count; i++) {
      const server = createServer();
      servers.push(server);
      ports.push(
        await new Promise<number>((resolve, reject) => {
          server.once('error', reject);
          server.listen(0, host, () => {
            const address = server.address();
            if (address === null || typeof address === 'string') reject(new Error('no port bound'));
            else resolve(address.port);
          });
        }),
      );
    }
    return ports;
  } finally {
    await Promise.all(
      servers.map(
        (s) => new Promise<void>((resolve) => (s.listening ? s.close(() => resolve()) : resolve())),
      ),
    );
  }
}
