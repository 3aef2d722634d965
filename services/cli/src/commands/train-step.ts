// `rnas train-step`: one training step of the reference (fixtures/parity/README.md) on a batch,
// writing every parameter and buffer after the step plus `loss`, `grad_norm` and `logits`.
import { Command } from 'commander';
import { initBackend, tf, writeSafetensors, type HostTensor } from '@rnas/engine';
import { Rng } from '@rnas/data';
import {
  disposeParams,
  exportParams,
  importParams,
  labelsTensor,
  Network,
  readSpecFile,
  Sgd,
  trainStep,
} from '@rnas/nas';
import { processIo, type CliIo } from '../io';
import { fromFlag, hostNumbers, imagesFromNchw, readTensorFile, requireTensor } from '../tensor-files';

export interface TrainStepCommandOptions {
  spec: string;
  weights: string;
  batch: string;
  out: string;
}

export async function runTrainStepCommand(options: TrainStepCommandOptions, io: CliIo): Promise<number> {
  const spec = await fromFlag('--spec', () => readSpecFile(options.spec));
  const network = new Network(spec.network);
  const backend = await initBackend();
  const weights = await readTensorFile(options.weights, '--weights');
  const batch = await readTensorFile(options.batch, '--batch');
  const inputHost = requireTensor(batch, 'input', options.batch);
  const labelsHost = requireTensor(batch, 'labels', options.batch);
  if (labelsHost.shape.length !== 1 || labelsHost.shape[0] !== inputHost.shape[0]) {
    throw new Error(
      `${options.batch}: tensor 'labels' has shape [${labelsHost.shape.join(', ')}], ` +
        `expected [${inputHost.shape[0]}] (one class index per image)`,
    );
  }
  const labelValues = hostNumbers(labelsHost, `${options.batch}: tensor 'labels'`);
  const tensors: Record<string, HostTensor> = {};
  const images = imagesFromNchw(
    inputHost,
    spec.network.inChannels,
    spec.inputHw,
    `${options.batch}: tensor 'input'`,
  );
  const labels = tf.tidy(() => labelsTensor(labelValues, spec.network.classes, `${options.batch}: labels`));
  const sgd = new Sgd({
    lr: spec.lr,
    momentum: spec.momentum,
    weightDecay: spec.weightDecay,
    gradClip: spec.gradClip,
  });
  const rng = Rng.fromSeed(spec.seed);
  let loss: number;
  let gradNorm: number;
  try {
    const params = importParams(network.params, weights.tensors, options.weights);
    try {
      const result = trainStep(network, params, images, labels, sgd, {
        dropPath: spec.dropPath > 0 ? { prob: spec.dropPath, random: () => rng.nextFloat() } : null,
        auxiliaryWeight: spec.auxiliaryWeight,
        labelSmoothing: spec.labelSmoothing,
        bnEps: spec.bnEps,
        bnMomentum: spec.bnMomentum,
      });
      ({ loss, gradNorm } = result);
      tensors.logits = {
        dtype: 'F32',
        shape: [...result.logits.shape],
        data: Float32Array.from(result.logits.dataSync()),
      };
      result.logits.dispose();
      Object.assign(tensors, exportParams(network.params, params));
    } finally {
      disposeParams(params);
    }
  } finally {
    images.dispose();
    labels.dispose();
    sgd.dispose();
  }
  tensors.loss = { dtype: 'F32', shape: [1], data: Float32Array.of(loss) };
  tensors.grad_norm = { dtype: 'F32', shape: [1], data: Float32Array.of(gradNorm) };
  await writeSafetensors(options.out, tensors, { backend: backend.name, spec: options.spec });
  io.stdout.write(
    `loss ${loss} grad_norm ${gradNorm}; written to ${options.out} (backend ${backend.name})\n`,
  );
  return 0;
}

export function trainStepCommand(io: CliIo = processIo): Command {
  return new Command('train-step')
    .description(
      'one reference training step; writes every parameter and buffer plus loss, grad_norm, logits',
    )
    .requiredOption('--spec <spec.json>', 'network spec with lr, momentum, weight_decay, grad_clip')
    .requiredOption(
      '--weights <w.safetensors>',
      'starting parameters and buffers (reference names and layouts)',
    )
    .requiredOption(
      '--batch <b.safetensors>',
      "file holding 'input' (NCHW float32) and 'labels' (class indices)",
    )
    .requiredOption('--out <out.safetensors>', 'where to write the result')
    .action(async (options: TrainStepCommandOptions) => {
      process.exitCode = await runTrainStepCommand(options, io);
    });
}
