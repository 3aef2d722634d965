// A stand-in service for tests: a GrpcServer on a free port of 127.0.0.1 with canned handlers,
// logging nowhere and leaving signals alone.
import type { ServiceDefinition } from '@grpc/grpc-js';
import type { ServiceHandlers } from './handlers';
import { createLogger } from './logger';
import { createServer, type AddServiceOptions, type GrpcServer } from './server';

export interface FakeService {
  server: GrpcServer;
  /** `127.0.0.1:<port>` */
  address: string;
}

export async function startFakeService<S extends ServiceDefinition>(
  definition: S,
  handlers: ServiceHandlers<S>,
  options: AddServiceOptions = {},
): Promise<FakeService> {
  const server = createServer({
    host: '127.0.0.1',
    port: 0,
    metricsPort: null,
    shutdownSignals: [],
    logger: createLogger({ service: 'fake', level: 'silent' }),
  });
  server.addService(definition, handlers, options);
  const { port } = await server.start();
  return { server, address: `127.0.0.1:${port}` };
}
