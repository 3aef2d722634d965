// `rnas params`: the trainable parameter count of a network (the last line of stdout, a bare
// integer, is the stable interface) and its multiply-adds for an input size.
import { Command, Option } from 'commander';
import { Network, parseGenotypeArg, type NetworkVariant } from '@rnas/nas';
import { positiveInt } from '../args';
import { processIo, type CliIo } from '../io';

export interface ParamsCommandOptions {
  genotype: string;
  variant: NetworkVariant;
  channels: number;
  layers: number;
  classes: number;
  inChannels?: number;
  auxiliary?: boolean;
  inputSize?: number;
}

export interface ParamsReport {
  params: number;
  macs: number;
  auxiliaryMacs: number;
  inputSize: number;
}

/** Counts; throws a clear error for a bad genotype or a network the input size cannot pass. */
export function paramsReport(options: ParamsCommandOptions): ParamsReport {
  const auxiliary = options.auxiliary === true;
  const network = new Network({
    variant: options.variant,
    genotype: parseGenotypeArg(options.genotype),
    channels: options.channels,
    layers: options.layers,
    classes: options.classes,
    inChannels: options.inChannels ?? 3,
    auxiliary,
  });
  const inputSize = options.inputSize ?? (options.variant === 'imagenet' ? 224 : 32);
  const trace = network.trace(inputSize, inputSize);
  return {
    params: network.countParams({ auxiliary }),
    macs: trace.macs,
    auxiliaryMacs: trace.auxiliaryMacs,
    inputSize,
  };
}

export function runParamsCommand(options: ParamsCommandOptions, io: CliIo): number {
  const r = paramsReport(options);
  const aux =
    options.auxiliary === true
      ? `; auxiliary head (training only): ${r.auxiliaryMacs.toLocaleString('en-US')}`
      : '';
  io.stdout.write(
    `${options.genotype}: ${options.variant} network, ${options.channels} channels, ${options.layers} cells, ` +
      `${options.classes} classes, auxiliary head ${options.auxiliary === true ? 'included' : 'excluded'}\n`,
  );
  io.stdout.write(
    `multiply-adds per ${r.inputSize}x${r.inputSize} image: ${r.macs.toLocaleString('en-US')}${aux}\n`,
  );
  io.stdout.write(`${r.params}\n`);
  return 0;
}

export function paramsCommand(io: CliIo = processIo): Command {
  return new Command('params')
    .description('print the trainable parameter count of a network (last line, a bare integer)')
    .requiredOption('--genotype <name|file.json>', 'a published genotype name or a genotype JSON file')
    .addOption(
      new Option('--variant <variant>', 'network variant')
        .choices(['cifar', 'imagenet'])
        .makeOptionMandatory(),
    )
    .requiredOption('--channels <C>', 'initial channels', positiveInt)
    .requiredOption('--layers <L>', 'number of cells', positiveInt)
    .requiredOption('--classes <K>', 'number of classes', positiveInt)
    .option('--in-channels <n>', 'image channels (default 3)', positiveInt)
    .option('--auxiliary', 'include the auxiliary head in the count')
    .option(
      '--input-size <px>',
      'image side for the multiply-add count (default 32 cifar, 224 imagenet)',
      positiveInt,
    )
    .action((options: ParamsCommandOptions) => {
      process.exitCode = runParamsCommand(options, io);
    });
}
