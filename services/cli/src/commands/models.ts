// `rnas models`: the models an inference service serves, one line per version (the serving one
// starred), or the ListModels response as JSON.
import { Command } from 'commander';
import {
  InferenceServiceService,
  ListModelsResponse,
  modelVersionStateToJSON,
  type ModelVersion,
} from '@rnas/proto';
import { positiveInt } from '../args';
import { processIo, type CliIo } from '../io';
import {
  addressOption,
  callService,
  DEFAULT_CALL_TIMEOUT_MS,
  securityFlags,
  type SecurityFlags,
} from './service-client';

export interface ModelsCommandOptions extends SecurityFlags {
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
  const connect = { ...securityFlags(options), addr: options.addr, deadlineMs: options.timeoutMs };
  const response = await callService(
    'inference',
    InferenceServiceService,
    connect,
    io,
    'cannot list models',
    (c) => c.listModels({}),
  );
  io.stdout.write(
    options.json
      ? `${JSON.stringify(ListModelsResponse.toJSON(response), null, 2)}\n`
      : formatModels(response),
  );
  return 0;
}

/** The `models` subcommand, ready to add to the program. */
export function modelsCommand(io: CliIo = processIo): Command {
  return new Command('models')
    .description('list the models an inference service serves, with their versions and load states')
    .addOption(addressOption('inference'))
    .option('--json', 'print the ListModels response as JSON')
    .option('--timeout-ms <ms>', `deadline of the call (default ${DEFAULT_CALL_TIMEOUT_MS})`, positiveInt)
    .action(async (options: ModelsCommandOptions) => {
      process.exitCode = await runModelsCommand(options, io);
    });
}
