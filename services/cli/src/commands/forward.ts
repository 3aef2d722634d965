// `rnas forward`: inference-mode forward of the tensor `input` (NCHW) of a safetensors file,
// writing `logits`.
import { Command } from 'commander';
import { initBackend, writeSafetensors, type HostTensor } from '@rnas/engine';
import { disposeParams, importParams, Network, readSpecFile } from '@rnas/nas';
import { processIo, type CliIo } from '../io';
import { fromFlag, imagesFromNchw, readTensorFile, requireTensor } from '../tensor-files';

export interface ForwardCommandOptions {
  spec: string;
  weights: string;
  input: string;
  out: string;
}

export async function runForwardCommand(options: ForwardCommandOptions, io: CliIo): Promise<number> {
  const spec = await fromFlag('--spec', () => readSpecFile(options.spec));
  const network = new Network(spec.network);
  const backend = await initBackend();
  const weights = await readTensorFile(options.weights, '--weights');
  const inputFile = await readTensorFile(options.input, '--input');
  const images = imagesFromNchw(
    requireTensor(inputFile, 'input', options.input),
    spec.network.inChannels,
    spec.inputHw,
    `${options.input}: tensor 'input'`,
  );
  let logits: HostTensor;
  try {
    const params = importParams(network.params, weights.tensors, options.weights);
    try {
      const out = network.forward(params, images, { bnEps: spec.bnEps });
      logits = { dtype: 'F32', shape: [...out.logits.shape], data: Float32Array.from(out.logits.dataSync()) };
      out.logits.dispose();
    } finally {
      disposeParams(params);
    }
  } finally {
    images.dispose();
  }
  await writeSafetensors(options.out, { logits }, { backend: backend.name, spec: options.spec });
  io.stdout.write(
    `logits [${logits.shape.join(', ')}] written to ${options.out} (backend ${backend.name})\n`,
  );
  return 0;
}

export function forwardCommand(io: CliIo = processIo): Command {
  return new Command('forward')
    .description("inference-mode forward of the tensor 'input' (NCHW) of a safetensors file; writes 'logits'")
    .requiredOption('--spec <spec.json>', 'network spec (the format of fixtures/parity/*.spec.json)')
    .requiredOption(
      '--weights <w.safetensors>',
      'parameters and buffers under the reference names and layouts',
    )
    .requiredOption('--input <io.safetensors>', "file holding the tensor 'input', NCHW float32")
    .requiredOption('--out <out.safetensors>', "where to write 'logits'")
    .action(async (options: ForwardCommandOptions) => {
      process.exitCode = await runForwardCommand(options, io);
    });
}
