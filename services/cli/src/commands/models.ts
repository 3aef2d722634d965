// `rnas models`: the models an inference service serves, one line per version (the serving one
// starred), or the ListModels response as JSON.
import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { Command, InvalidArgumentError } from 'commander';
import {
  InferenceServiceClient,
  ListModelsResponse,
  modelVersionStateToJSON,
  type ModelVersion,
} from '@rnas/proto';
import { positiveInt } from '../args';
import { serviceCallError } from './search-client';
import { processIo, type CliIo } from '../io';

/** The inference service's well-known port (services/inference/README.md). */
export const DEFAULT_INFERENCE_ADDRESS = 'localhost:50053';
export const INFERENCE_ADDRESS_ENV = 'RNAS_INFERENCE_ADDR';
const DEFAULT_TIMEOUT_MS = 10_000;

/** The service address: the flag, else RNAS_INFERENCE_ADDR, else localhost:50053. */
export function inferenceAddress(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  const address = flag ?? (env[INFERENCE_ADDRESS_ENV] || DEFAULT_INFERENCE_ADDRESS);
  if (!/^[^\s]{1,255}$/.test(address)) {
    const source = flag === undefined ? INFERENCE_ADDRESS_ENV : '--addr';
    throw new Error(`${source}: expected host:port, got ${JSON.stringify(address)}`);
  }
  return address;
}

export function inferenceClient(address: string): InferenceServiceClient {
  return new InferenceServiceClient(address, credentials.createInsecure(), {
    'grpc.max_receive_message_length': -1,
  });
}

/** A failed call as one line that says where and why, and what to try when nothing answers. */
export function callError(what: string, address: string, error: ServiceError): Error {
  return serviceCallError(
    what,
    address,
    error,
    `is \`rnas serve inference\` running there? set --addr or ${INFERENCE_ADDRESS_ENV}`,
  );
}

export interface ModelsCommandOptions {
  addr?: string;
  json?: boolean;
  timeoutMs?: number;
}

function inputShape(version: ModelVersion): string {
  const shape = version.inputShape;
  return shape ? `${shape.height}x${shape.width}x${shape.channels}` : '-';
}

/** A plain table: columns padded to their widest cell. */
function table(rows: string[][]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => row[c].length)));
  return rows
    .map((row) =>
      row
        .map((cell, c) => cell.padEnd(widths[c]))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export function formatModels(response: ListModelsResponse): string {
  if (response.models.length === 0) return 'no models in the repository\n';
  const rows = [['MODEL', 'VERSION', 'STATE', 'INPUT', 'CLASSES', 'PARAMS', 'ERROR']];
  for (const model of response.models) {
    for (const version of model.versions) {
      rows.push([
        model.name,
        `${version.version}${version.version === model.servingVersion ? '*' : ''}`,
        modelVersionStateToJSON(version.state).replace('MODEL_VERSION_STATE_', ''),
        inputShape(version),
        version.spec ? String(version.spec.classes) : '-',
        version.parameterCount > 0 ? String(version.parameterCount) : '-',
        version.error.length > 100 ? `${version.error.slice(0, 100)}…` : version.error,
      ]);
    }
  }
  return `${table(rows)}\n(* the version Classify uses when none is given)\n`;
}

export async function runModelsCommand(options: ModelsCommandOptions, io: CliIo): Promise<number> {
  const address = inferenceAddress(options.addr, io.env);
  const client = inferenceClient(address);
  try {
    const response = await new Promise<ListModelsResponse>((resolve, reject) => {
      client.listModels(
        {},
        new Metadata(),
        { deadline: Date.now() + (options.timeoutMs ?? DEFAULT_TIMEOUT_MS) },
        (error: ServiceError | null, result: ListModelsResponse) =>
          error ? reject(callError('cannot list models', address, error)) : resolve(result),
      );
    });
    io.stdout.write(
      options.json
        ? `${JSON.stringify(ListModelsResponse.toJSON(response), null, 2)}\n`
        : formatModels(response),
    );
    return 0;
  } finally {
    client.close();
  }
}

function address(value: string): string {
  if (value.trim() === '') throw new InvalidArgumentError('expected host:port');
  return value.trim();
}

/** The `models` subcommand, ready to add to the program. */
export function modelsCommand(io: CliIo = processIo): Command {
  return new Command('models')
    .description('list the models an inference service serves, with their versions and load states')
    .option(
      '--addr <host:port>',
      `inference service address (env ${INFERENCE_ADDRESS_ENV}, default ${DEFAULT_INFERENCE_ADDRESS})`,
      address,
    )
    .option('--json', 'print the ListModels response as JSON')
    .option('--timeout-ms <ms>', `deadline of the call (default ${DEFAULT_TIMEOUT_MS})`, positiveInt)
    .action(async (options: ModelsCommandOptions) => {
      process.exitCode = await runModelsCommand(options, io);
    });
}
