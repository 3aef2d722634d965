// A stand-in service for tests: a GrpcServer on a free port of 127.0.0.1 with canned handlers,
// logging nowhere and leaving signals alone.
import type { ServiceDefinition } from '@grpc/grpc-js';
import type { ServiceHandlers } from './handlers';
import { UnimplementedError } from './errors';
import { createLogger } from './logger';
import { createServer, type AddServiceOptions, type GrpcServer } from './server';

export interface FakeService {
  server: GrpcServer;
  /** `127.0.0.1:<port>` */
  address: string;
}

/** A test's canned handlers; the methods it leaves out answer UNIMPLEMENTED. */
export async function startFakeService<S extends ServiceDefinition>(
  definition: S,
  partial: Partial<ServiceHandlers<S>>,
  options: AddServiceOptions = {},
): Promise<FakeService> {
  const handlers = { ...partial } as Record<string, unknown>;
  for (const method of Object.keys(definition)) {
    handlers[method] ??= () => {
      throw new UnimplementedError(method);
    };
  }
  const server = createServer({
    host: '127.0.0.1',
    port: 0,
    metricsPort: null,
    shutdownSignals: [],
    logger: createLogger({ service: 'fake', level: 'silent' }),
  });
  server.addService(definition, handlers as ServiceHandlers<S>, options);
  const { port } = await server.start();
  return { server, address: `127.0.0.1:${port}` };
}
