import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fromBinary } from '@bufbuild/protobuf';
import {
  FieldDescriptorProto_Label,
  FileDescriptorProtoSchema,
  type DescriptorProto,
  type FileDescriptorProto,
} from '@bufbuild/protobuf/wkt';
import { Client, credentials, loadPackageDefinition, status, type ClientDuplexStream } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { GRPCInferenceServiceService, SearchServiceService } from '@rnas/proto';
import { createLogger } from './logger';
import { DescriptorReflection, FILE_DESCRIPTOR_SET, splitFileDescriptorSet } from './reflection';
import { createServer, type GrpcServer } from './server';
import type { ServiceHandlers } from './handlers';

const REPO = path.resolve(__dirname, '../../..');
const PROTO = path.join(REPO, 'proto');
const SEARCH = 'relativenas.v1.SearchService';

/**
 * What protoc writes for `files` (no imports, no source info), by file name: Debian's protoc when
 * installed, else Buf, whose output is the same bytes.
 */
function protocDescriptors(files: string[]): Map<string, Buffer> {
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'rnas-protoc-'));
  try {
    const out = path.join(scratch, 'set.binpb');
    if (existsSync('/usr/bin/protoc')) {
      execFileSync('/usr/bin/protoc', ['-I', PROTO, `--descriptor_set_out=${out}`, ...files]);
    } else {
      const paths = files.flatMap((file) => ['--path', file]);
      execFileSync(
        path.join(REPO, 'node_modules/.bin/buf'),
        [
          'build',
          '--as-file-descriptor-set',
          '--exclude-source-info',
          '--exclude-imports',
          ...paths,
          '-o',
          out,
        ],
        { cwd: PROTO },
      );
    }
    return byName(splitFileDescriptorSet(readFileSync(out)));
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

function byName(files: Buffer[]): Map<string, Buffer> {
  return new Map(files.map((bytes) => [fromBinary(FileDescriptorProtoSchema, bytes).name, bytes]));
}

interface Response {
  valid_host: string;
  original_request: Record<string, unknown>;
  list_services_response?: { service: { name: string }[] };
  file_descriptor_response?: { file_descriptor_proto: Buffer[] };
  all_extension_numbers_response?: { base_type_name: string; extension_number: number[] };
  error_response?: { error_code: number; error_message: string };
}

/** Requests on one ServerReflectionInfo stream of `version`, with the .proto @grpc/reflection ships. */
async function reflect(
  address: string,
  requests: Record<string, unknown>[],
  version: 'v1' | 'v1alpha' = 'v1',
): Promise<Response[]> {
  const protoDir = path.join(path.dirname(require.resolve('@grpc/reflection/package.json')), 'build/proto');
  const definition = loadSync(`grpc/reflection/${version}/reflection.proto`, {
    includeDirs: [protoDir],
    keepCase: true,
    longs: Number,
    arrays: true,
  });
  const loaded = loadPackageDefinition(definition) as unknown as {
    grpc: {
      reflection: Record<string, { ServerReflection: new (address: string, creds: unknown) => Client }>;
    };
  };
  const client = new loaded.grpc.reflection[version].ServerReflection(
    address,
    credentials.createInsecure(),
  ) as Client & { ServerReflectionInfo(): ClientDuplexStream<Record<string, unknown>, Response> };
  try {
    const stream = client.ServerReflectionInfo();
    const responses: Response[] = [];
    const done = new Promise<Response[]>((resolve, reject) => {
      stream.on('data', (response: Response) => responses.push(response));
      stream.on('end', () => resolve(responses));
      stream.on('error', reject);
    });
    for (const request of requests) stream.write(request);
    stream.end();
    return await done;
  } finally {
    client.close();
  }
}

async function files(address: string, request: Record<string, unknown>): Promise<FileDescriptorProto[]> {
  const [response] = await reflect(address, [request]);
  expect(response.error_response).toBeUndefined();
  return (response.file_descriptor_response?.file_descriptor_proto ?? []).map((bytes) =>
    fromBinary(FileDescriptorProtoSchema, bytes),
  );
}

function message(file: FileDescriptorProto, name: string): DescriptorProto {
  const found = file.messageType.find((type) => type.name === name);
  if (!found) throw new Error(`no message ${name} in ${file.name}`);
  return found;
}

describe('server reflection of a running service', () => {
  let server: GrpcServer;
  let address: string;
  beforeAll(async () => {
    server = createServer({
      host: '127.0.0.1',
      port: 0,
      metricsPort: null,
      shutdownSignals: [],
      logger: createLogger({ service: 'reflection-test', level: 'silent' }),
    });
    const unimplemented = <S extends object>(definition: S): ServiceHandlers<never> =>
      Object.fromEntries(Object.keys(definition).map((method) => [method, () => undefined])) as never;
    server.addService(SearchServiceService, unimplemented(SearchServiceService));
    server.addService(GRPCInferenceServiceService, unimplemented(GRPCInferenceServiceService));
    const { port } = await server.start();
    address = `127.0.0.1:${port}`;
  });
  afterAll(() => server.shutdown());

  it('serves relativenas/v1/search.proto and its import byte-equal to what protoc writes', async () => {
    const [response] = await reflect(address, [{ file_by_filename: 'relativenas/v1/search.proto' }]);
    expect(response.error_response).toBeUndefined();
    const served = response.file_descriptor_response?.file_descriptor_proto ?? [];
    const expected = protocDescriptors(['relativenas/v1/search.proto', 'relativenas/v1/genotype.proto']);
    // The file asked for first, then its import.
    expect([...byName(served).keys()]).toEqual([
      'relativenas/v1/search.proto',
      'relativenas/v1/genotype.proto',
    ]);
    expect(Buffer.compare(served[0], expected.get('relativenas/v1/search.proto')!)).toBe(0);
    expect(Buffer.compare(served[1], expected.get('relativenas/v1/genotype.proto')!)).toBe(0);
  });

  it('serves the declarations as written: snake_case names, proto3 optional, qualified types', async () => {
    const [search, genotype] = await files(address, { file_by_filename: 'relativenas/v1/search.proto' });
    expect(search.name).toBe('relativenas/v1/search.proto');
    expect(search.package).toBe('relativenas.v1');
    expect(search.dependency).toEqual(['relativenas/v1/genotype.proto']);
    expect(genotype.name).toBe('relativenas/v1/genotype.proto');
    const list = message(search, 'ListSearchesRequest');
    expect(list.field.map((field) => field.name)).toEqual(['page_size', 'page_token', 'state']);
    expect(list.field[2].typeName).toBe('.relativenas.v1.SearchState');
    const config = message(search, 'SearchConfig');
    const population = config.field.find((field) => field.name === 'population');
    expect(population?.proto3Optional).toBe(true);
    expect(population?.label).toBe(FieldDescriptorProto_Label.OPTIONAL);
    expect(config.oneofDecl.map((oneof) => oneof.name)).toContain('_population');
    expect(config.field.find((field) => field.name === 'strategy')?.proto3Optional).toBe(false);
    const start = search.service[0].method.find((method) => method.name === 'StartSearch');
    expect(start?.inputType).toBe('.relativenas.v1.StartSearchRequest');
    for (const type of search.messageType) {
      for (const field of type.field) {
        if (field.typeName) expect(field.typeName).toMatch(/^\.relativenas\.v1\./);
      }
    }
  });

  it('finds the file of a service, a method, a message, an enum value and a nested type', async () => {
    const names = async (symbol: string): Promise<string[]> =>
      (await files(address, { file_containing_symbol: symbol })).map((file) => file.name);
    const search = ['relativenas/v1/search.proto', 'relativenas/v1/genotype.proto'];
    expect(await names(SEARCH)).toEqual(search);
    expect(await names(`${SEARCH}.StartSearch`)).toEqual(search);
    expect(await names('relativenas.v1.ListSearchesRequest')).toEqual(search);
    expect(await names('relativenas.v1.SEARCH_STATE_FAILED')).toEqual(search);
    expect(await names('relativenas.v1.Genotype')).toEqual(['relativenas/v1/genotype.proto']);
    // The Open Inference Protocol, with a nested message and its import.
    const oip = ['inference/grpc_service.proto', 'inference/model_config.proto'];
    expect(await names('inference.GRPCInferenceService')).toEqual(oip);
    expect(await names('inference.ModelInferRequest.InferInputTensor')).toEqual(oip);
    expect(await names('inference.ModelVersionPolicy.Latest')).toEqual(['inference/model_config.proto']);
    expect(await names('grpc.health.v1.Health')).toEqual(['grpc/health/v1/health.proto']);
  });

  it('answers NOT_FOUND naming what it did not find, on the same stream', async () => {
    const responses = await reflect(address, [
      { file_containing_symbol: 'relativenas.v1.Nope' },
      { file_by_filename: 'relativenas_v1.proto' },
      { file_containing_extension: { containing_type: 'relativenas.v1.Search', extension_number: 100 } },
      { all_extension_numbers_of_type: 'relativenas.v1.Nope' },
      { file_containing_symbol: SEARCH },
    ]);
    expect(responses.map((response) => response.error_response)).toEqual([
      {
        error_code: status.NOT_FOUND,
        error_message: 'file_containing_symbol "relativenas.v1.Nope" not found',
      },
      { error_code: status.NOT_FOUND, error_message: 'file_by_filename "relativenas_v1.proto" not found' },
      {
        error_code: status.NOT_FOUND,
        error_message: 'file_containing_extension: no extension 100 of "relativenas.v1.Search" found',
      },
      {
        error_code: status.NOT_FOUND,
        error_message: 'all_extension_numbers_of_type "relativenas.v1.Nope" not found',
      },
      undefined,
    ]);
    expect(responses[0].original_request).toMatchObject({ file_containing_symbol: 'relativenas.v1.Nope' });
  });

  it('lists the services it serves, on v1 and v1alpha', async () => {
    for (const version of ['v1', 'v1alpha'] as const) {
      const [response] = await reflect(address, [{ list_services: '*' }], version);
      expect(response.list_services_response?.service.map((service) => service.name).sort()).toEqual([
        'grpc.health.v1.Health',
        'inference.GRPCInferenceService',
        SEARCH,
      ]);
    }
    const [numbers] = await reflect(address, [{ all_extension_numbers_of_type: 'relativenas.v1.Search' }]);
    expect(numbers.all_extension_numbers_response).toEqual({
      base_type_name: 'relativenas.v1.Search',
      extension_number: [],
    });
  });
});

describe('the generated descriptor set', () => {
  it('holds every file of proto/ as protoc writes it', () => {
    const names = [
      'inference/model_config.proto',
      'inference/grpc_service.proto',
      'relativenas/v1/genotype.proto',
      'relativenas/v1/evaluation.proto',
      'relativenas/v1/task.proto',
      'relativenas/v1/inference.proto',
      'relativenas/v1/search.proto',
      'relativenas/v1/training.proto',
    ];
    const generated = byName(splitFileDescriptorSet(FILE_DESCRIPTOR_SET));
    expect([...generated.keys()].sort()).toEqual([...names, 'grpc/health/v1/health.proto'].sort());
    const expected = protocDescriptors(names);
    for (const name of names) expect(Buffer.compare(generated.get(name)!, expected.get(name)!)).toBe(0);
  });

  it('refuses a service the set does not define', () => {
    expect(() => new DescriptorReflection(['relativenas.v1.NoSuch'])).toThrow(
      'reflection: the descriptor set defines no service relativenas.v1.NoSuch',
    );
    expect(() => new DescriptorReflection(['relativenas.v1.Search'])).toThrow('defines no service');
  });
});
