import { Client, credentials, status, type ClientDuplexStream, type ServiceDefinition } from '@grpc/grpc-js';
import { startFakeService, type FakeService } from './fake-service';
import { UndecodableMessageError, type BidiStreamHandler } from './handlers';

// A bidirectional method on plain strings: a message starting with byte 0xff does not decode. It
// borrows the path of a real bidirectional RPC because the server's reflection serves only
// services that proto/ defines; the bytes on the wire are this test's own.
const ECHO = {
  echo: {
    path: '/inference.GRPCInferenceService/ModelStreamInfer',
    requestStream: true,
    responseStream: true,
    requestSerialize: (value: string) => Buffer.from(value),
    requestDeserialize: (bytes: Buffer): string => {
      if (bytes[0] === 0xff) throw new Error('byte 0xff');
      return bytes.toString();
    },
    responseSerialize: (value: string) => Buffer.from(value),
    responseDeserialize: (bytes: Buffer) => bytes.toString(),
  },
} as const satisfies ServiceDefinition;

/** Upper-cases each message; answers an undecodable one with its error, and goes on. */
const echo: BidiStreamHandler<string, string> = async function* (requests) {
  for await (const request of requests) {
    yield request instanceof UndecodableMessageError ? `error: ${request.message}` : request.toUpperCase();
  }
};

function open(service: FakeService): { client: Client; call: ClientDuplexStream<Buffer, string> } {
  const client = new Client(service.address, credentials.createInsecure());
  const call = client.makeBidiStreamRequest(
    ECHO.echo.path,
    (value: Buffer) => value,
    ECHO.echo.responseDeserialize,
  );
  return { client, call };
}

function collect(call: ClientDuplexStream<Buffer, string>): Promise<{ answers: string[]; code: number }> {
  const answers: string[] = [];
  return new Promise((resolve) => {
    call.on('data', (answer: string) => answers.push(answer));
    call.on('error', (error: { code: number }) => resolve({ answers, code: error.code }));
    call.on('status', (s: { code: number }) => {
      if (s.code === status.OK) resolve({ answers, code: s.code });
    });
  });
}

describe('bidirectional streams', () => {
  let service: FakeService;

  beforeAll(async () => {
    service = await startFakeService(ECHO, { echo });
  });

  afterAll(async () => {
    await service.server.shutdown();
  });

  it('answers every message in order, an undecodable one included, and ends OK after the client', async () => {
    const { client, call } = open(service);
    const done = collect(call);
    for (const message of [Buffer.from('a'), Buffer.from([0xff, 1]), Buffer.from('c')]) call.write(message);
    call.end();
    const { answers, code } = await done;
    client.close();
    expect(code).toBe(status.OK);
    expect(answers).toEqual([
      'A',
      'error: invalid request=<2 bytes>: not a valid /inference.GRPCInferenceService/ModelStreamInfer request: byte 0xff',
      'C',
    ]);
  });

  it('ends an open stream with UNAVAILABLE when the server drains', async () => {
    const own = await startFakeService(ECHO, { echo });
    const { client, call } = open(own);
    const done = collect(call);
    call.write(Buffer.from('x'));
    await new Promise<void>((resolve) => call.once('data', () => resolve()));
    await own.server.shutdown();
    const { answers, code } = await done;
    client.close();
    expect(answers).toEqual(['X']);
    expect(code).toBe(status.UNAVAILABLE);
  });
});
