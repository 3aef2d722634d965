// `rnas train-step`: training steps of the reference (fixtures/parity/README.md) on a batch, one
// by default (`--steps N`: N steps on the same batch with the same optimiser, momentum carried
// over), writing every parameter and buffer after the last step plus that step's `loss`,
// `grad_norm` and `logits`.
import { Command, InvalidArgumentError } from 'commander';
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
  /** Steps on the batch, in [1, MAX_TRAIN_STEPS]; 1 when absent. */
  steps?: number;
}

/** The most steps one `rnas train-step` runs. */
export const MAX_TRAIN_STEPS = 10000;

/** Commander parser for `--steps`: an integer in [1, MAX_TRAIN_STEPS]. */
export function trainSteps(value: string): number {
  const n = Number(value);
  if (!/^\s*\d{1,5}\s*$/.test(value) || n < 1 || n > MAX_TRAIN_STEPS) {
    throw new InvalidArgumentError(`expected an integer in [1, ${MAX_TRAIN_STEPS}], got "${value}"`);
  }
  return n;
}

export async function runTrainStepCommand(options: TrainStepCommandOptions, io: CliIo): Promise<number> {
  const steps = options.steps ?? 1;
  // Callers other than commander (tests, scripts) get the flag's check too.
  if (!Number.isInteger(steps) || steps < 1 || steps > MAX_TRAIN_STEPS) {
    throw new Error(`--steps: expected an integer in [1, ${MAX_TRAIN_STEPS}], got ${steps}`);
  }
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
  // One optimiser for every step: its momentum buffers carry over from step to step.
  const sgd = new Sgd({
    lr: spec.lr,
    momentum: spec.momentum,
    weightDecay: spec.weightDecay,
    gradClip: spec.gradClip,
  });
  const rng = Rng.fromSeed(spec.seed);
  const images = imagesFromNchw(
    inputHost,
    spec.network.inChannels,
    spec.inputHw,
    `${options.batch}: tensor 'input'`,
  );
  let loss = NaN;
  let gradNorm = NaN;
  try {
    const labels = tf.tidy(() => labelsTensor(labelValues, spec.network.classes, `${options.batch}: labels`));
    try {
      const params = importParams(network.params, weights.tensors, options.weights);
      try {
        for (let step = 1; step <= steps; step++) {
          const result = trainStep(network, params, images, labels, sgd, {
            dropPath: spec.dropPath > 0 ? { prob: spec.dropPath, random: () => rng.nextFloat() } : null,
            auxiliaryWeight: spec.auxiliaryWeight,
            labelSmoothing: spec.labelSmoothing,
            bnEps: spec.bnEps,
            bnMomentum: spec.bnMomentum,
          });
          // Only the last step's logits are written; every step's are disposed here.
          try {
            ({ loss, gradNorm } = result);
            if (step === steps) {
              tensors.logits = {
                dtype: 'F32',
                shape: [...result.logits.shape],
                data: Float32Array.from(result.logits.dataSync()),
              };
            }
          } finally {
            result.logits.dispose();
          }
        }
        Object.assign(tensors, exportParams(network.params, params));
      } finally {
        disposeParams(params);
      }
    } finally {
      labels.dispose();
    }
  } finally {
    images.dispose();
    sgd.dispose();
  }
  tensors.loss = { dtype: 'F32', shape: [1], data: Float32Array.of(loss) };
  tensors.grad_norm = { dtype: 'F32', shape: [1], data: Float32Array.of(gradNorm) };
  await writeSafetensors(options.out, tensors, { backend: backend.name, spec: options.spec });
  io.stdout.write(
    `${steps === 1 ? '' : `${steps} steps; last step: `}loss ${loss} grad_norm ${gradNorm}; ` +
      `written to ${options.out} (backend ${backend.name})\n`,
  );
  return 0;
}

export function trainStepCommand(io: CliIo = processIo): Command {
  return new Command('train-step')
    .description(
      'reference training steps on one batch (one unless --steps); writes every parameter and ' +
        'buffer after the last step plus loss, grad_norm, logits of the last step',
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
    .option(
      '--steps <n>',
      `steps on the same batch, 1 to ${MAX_TRAIN_STEPS}, with the same SGD (momentum carried over); ` +
        'loss, grad_norm and logits written are those of the last step (default 1)',
      trainSteps,
    )
    .action(async (options: TrainStepCommandOptions) => {
      process.exitCode = await runTrainStepCommand(options, io);
    });
}
