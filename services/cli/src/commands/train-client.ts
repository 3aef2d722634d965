// `rnas train start|watch|get`: a client of the training service. Watches draw a progress bar
// over the epochs on a terminal and print one line per epoch otherwise; logs go to stderr,
// results (ids, JSON, the published model) to stdout.
import { Task } from '@rnas/proto';
import { Command, InvalidArgumentError, Option } from 'commander';
import { genotypeToProto, parseGenotypeArg } from '@rnas/nas';
import {
  DetectionAugmentation,
  LearningRateSchedule,
  NetworkVariant,
  Training,
  TrainingServiceService,
  TrainingState,
  WatchTrainingResponse,
  type StartTrainingRequest,
} from '@rnas/proto';
import { decimal, integer } from '../args';
import { processIo, type CliIo } from '../io';
import {
  addressOption,
  exitWith,
  overrideExit,
  callService,
  type ClientFlags,
  type WatchFlags,
  securityFlags,
} from './service-client';
import { duration, watchService, WatchView } from './watch-view';

function stateName(state: TrainingState): string {
  return TrainingState[state]?.replace('TRAINING_STATE_', '') ?? String(state);
}

function percent(x: number): string {
  return Number.isFinite(x) ? `${(100 * x).toFixed(1)}%` : '-';
}

/**
 * The epoch's headline metric: test accuracy for a classifier, AP50 (VOC all-point, IoU 0.5) for
 * a detector, mIoU for a segmenter, OKS AP (COCO's keypoint AP) for a keypoint model.
 */
function headline(r: { evalAccuracy: number; evalMetrics: { [name: string]: number } }): string {
  const m = r.evalMetrics;
  if (m.mIoU !== undefined) return `mIoU ${m.mIoU.toFixed(3)}`;
  // Keypoint metrics carry PCK next to AP; detection's AP50 is its headline.
  if (m.PCK !== undefined && m.AP !== undefined) return `AP ${m.AP.toFixed(3)}`;
  if (m.AP50 !== undefined) return `AP50 ${m.AP50.toFixed(3)}`;
  return `accuracy ${percent(r.evalAccuracy)}`;
}

/** Dense tasks report no training accuracy. */
const hasAccuracy = (r: { evalMetrics: { [name: string]: number } }): boolean =>
  r.evalMetrics.AP50 === undefined && r.evalMetrics.mIoU === undefined && r.evalMetrics.PCK === undefined;

/** A few lines a person reads; `--json` gives the whole message instead. */
export function formatTraining(t: Training): string {
  const p = t.progress;
  const lines = [
    `training ${t.id}: ${stateName(t.state)}`,
    `  model ${t.modelName}, dataset ${t.datasetUri}${t.searchId === '' ? '' : `, genotype of search ${t.searchId}`}`,
    `  network: ${t.spec?.layers} cells, ${t.spec?.channels} channels, ${t.spec?.classes || '?'} classes`,
    `  progress: epoch ${p?.epochsDone ?? 0}/${p?.epochs ?? 0}` +
      (p !== undefined && p.imagesPerSecond > 0 ? `, ${p.imagesPerSecond.toFixed(0)} img/s` : '') +
      (p !== undefined && p.etaMs > 0 ? `, ETA ${duration(p.etaMs)}` : ''),
  ];
  const e = t.lastEpoch;
  if (e !== undefined) {
    lines.push(
      `  last epoch: train loss ${e.trainLoss.toFixed(4)}, test loss ${e.evalLoss.toFixed(4)}, ` +
        `test ${headline(e)}, lr ${e.learningRate.toPrecision(3)}`,
    );
  }
  if (t.model !== undefined)
    lines.push(`  published: ${t.model.name} version ${t.model.version} (${t.model.path})`);
  if (t.error !== '') lines.push(`  error: ${t.error}`);
  if (t.resumes > 0) lines.push(`  resumed ${t.resumes} time(s) after a restart`);
  return `${lines.join('\n')}\n`;
}

/** Follows a training: a bar over the epochs on a terminal, one line per event elsewhere. */
class TrainingProgressView extends WatchView<WatchTrainingResponse> {
  onEvent(m: WatchTrainingResponse): void {
    const event = m.event;
    if (event === undefined) return;
    if (event.$case === 'stateChange') {
      this.log(`${stateName(event.value.state)}: ${event.value.reason}`);
      if (event.value.state === TrainingState.TRAINING_STATE_RUNNING) {
        this.startBar(
          'epoch {value}/{total} [{bar}] loss {loss} | {metric} | lr {lr} | {ips} img/s | ETA {eta}',
          event.value.training?.progress?.epochs ?? 0,
          event.value.training?.progress?.epochsDone ?? 0,
          { loss: '-', metric: '-', lr: '-', ips: 0, eta: '?' },
        );
      }
      if (event.value.state >= TrainingState.TRAINING_STATE_SUCCEEDED) this.stop();
      return;
    }
    const r = event.value;
    if (this.bar !== null) {
      this.bar.update(r.epoch, {
        loss: r.trainLoss.toFixed(4),
        metric: headline(r),
        lr: r.learningRate.toPrecision(3),
        ips: r.imagesPerSecond.toFixed(0),
        eta: duration(r.etaMs),
      });
      return;
    }
    this.io.stderr.write(
      `epoch ${r.epoch}/${r.epochs}: train loss ${r.trainLoss.toFixed(4)}` +
        `${hasAccuracy(r) ? `, accuracy ${percent(r.trainAccuracy)}` : ''}; ` +
        `test loss ${r.evalLoss.toFixed(4)}, ${headline(r)}; lr ${r.learningRate.toPrecision(3)}, ` +
        `${r.imagesPerSecond.toFixed(0)} img/s, ETA ${duration(r.etaMs)}\n`,
    );
  }
}

/** Follows a training to its end; exit code 0 when it succeeded (the model is printed), 1 otherwise. */
export async function runTrainWatch(trainingId: string, options: WatchFlags, io: CliIo): Promise<number> {
  const last = await watchService('training', TrainingServiceService, options, io, {
    what: 'cannot watch the training',
    open: (client, afterSequence) =>
      client.watchTraining({ trainingId, afterSequence: String(afterSequence) }),
    view: new TrainingProgressView(io),
    toJSON: (m) => WatchTrainingResponse.toJSON(m),
    snapshot: (m) => (m.event?.$case === 'stateChange' ? m.event.value.training : undefined),
  });
  const succeeded = last?.state === TrainingState.TRAINING_STATE_SUCCEEDED;
  if (succeeded && options.json !== true && last?.model !== undefined) {
    io.stdout.write(`model=${last.model.name} version=${last.model.version}\n`);
  }
  return succeeded ? 0 : 1;
}

export interface StartOptions extends ClientFlags {
  genotype?: string;
  search?: string;
  dataset: string;
  model: string;
  variant?: 'cifar' | 'imagenet';
  channels?: number;
  layers?: number;
  auxiliary?: boolean;
  epochs?: number;
  batchSize?: number;
  learningRate?: number;
  learningRateMin?: number;
  schedule?: 'cosine' | 'constant' | 'poly';
  momentum?: number;
  weightDecay?: number;
  auxiliaryWeight?: number;
  cutout?: number;
  dropPath?: number;
  gradClip?: number;
  labelSmoothing?: number;
  cropPadding?: number;
  flip?: boolean;
  trainImages?: number;
  evalImages?: number;
  seed?: number;
  watch?: boolean;
  task?: TaskName;
  /** `N` or `HxW`. */
  inputSize?: InputSize;
  backboneModel?: string;
  freezeBackboneEpochs?: number;
  backboneLrScale?: number;
  matchIou?: number;
  augmentation?: 'ssd' | 'mirror';
  scales?: number[];
  headLrScale?: number;
  auxWeight?: number;
  heatmapSigma?: number;
  /** Commander sets it true unless --no-flip-test is given. */
  flipTest?: boolean;
  scaleFactor?: number;
  rotationFactor?: number;
}

export const TASKS = ['classification', 'detection', 'segmentation', 'keypoints'] as const;
export type TaskName = (typeof TASKS)[number];

/** An input size flag: one side (a square) or height and width. */
export interface InputSize {
  height: number;
  width: number;
  /** The flag's text, for messages. */
  text: string;
}

/** Commander parser of `--input-size`: `N` (a square) or `HxW`, positive integers. */
export function inputSize(value: string): InputSize {
  const m = /^\s*(\d{1,5})\s*(?:[xX]\s*(\d{1,5})\s*)?$/.exec(value);
  if (m === null || Number(m[1]) < 1 || (m[2] !== undefined && Number(m[2]) < 1))
    throw new InvalidArgumentError(`expected N or HxW (positive integers, height first), got "${value}"`);
  const height = Number(m[1]);
  return { height, width: m[2] === undefined ? height : Number(m[2]), text: value.trim() };
}

/** Commander parser of `--scales`: positive numbers separated by commas. */
export function scaleList(value: string): number[] {
  const parts = value.split(',').map((s) => s.trim());
  const scales = parts.map((s) => (s === '' ? NaN : Number(s)));
  if (parts.length > 32 || !scales.every((v) => Number.isFinite(v) && v > 0))
    throw new InvalidArgumentError(`expected up to 32 positive numbers separated by commas, got "${value}"`);
  return scales;
}

/** Each task flag, the tasks that take it. */
const TASK_FLAGS: readonly (readonly [keyof StartOptions, string, readonly TaskName[]])[] = [
  ['inputSize', '--input-size', ['detection', 'segmentation', 'keypoints']],
  ['backboneModel', '--backbone-model', ['detection', 'segmentation', 'keypoints']],
  ['freezeBackboneEpochs', '--freeze-backbone-epochs', ['detection']],
  ['backboneLrScale', '--backbone-lr-scale', ['detection']],
  ['matchIou', '--match-iou', ['detection']],
  ['augmentation', '--augmentation', ['detection']],
  ['scales', '--scales', ['segmentation']],
  ['headLrScale', '--head-lr-scale', ['segmentation']],
  ['auxWeight', '--aux-weight', ['segmentation']],
  ['heatmapSigma', '--heatmap-sigma', ['keypoints']],
  ['flipTest', '--no-flip-test', ['keypoints']],
  ['scaleFactor', '--scale-factor', ['keypoints']],
  ['rotationFactor', '--rotation-factor', ['keypoints']],
];

/** Whether a task flag was given (--no-flip-test: only when it turned flip testing off). */
const given = (options: StartOptions, key: keyof StartOptions): boolean =>
  key === 'flipTest' ? options.flipTest === false : options[key] !== undefined;

/** Refuses a flag of another task than the one trained, naming both. */
function checkTaskFlags(options: StartOptions): void {
  const task = options.task ?? 'classification';
  for (const [key, flag, tasks] of TASK_FLAGS) {
    if (!given(options, key) || tasks.includes(task)) continue;
    const which =
      tasks.length === 1
        ? `a ${tasks[0]} flag`
        : `a flag of ${tasks.slice(0, -1).join(', ')} and ${tasks.at(-1)}`;
    const add = tasks.length === 1 ? `--task ${tasks[0]}` : `--task ${tasks.join('|')}`;
    throw new Error(
      `${flag} is ${which}${options.task === undefined ? '' : `, not ${task}`}: ${options.task === undefined ? 'add' : 'use'} ${add}`,
    );
  }
  if (
    task === 'detection' &&
    options.inputSize !== undefined &&
    options.inputSize.height !== options.inputSize.width
  )
    throw new Error(`--input-size ${options.inputSize.text}: detection takes one side N (a square input)`);
}

const TASK_ENUM: Record<TaskName, Task> = {
  classification: Task.TASK_CLASSIFICATION,
  detection: Task.TASK_DETECTION,
  segmentation: Task.TASK_SEGMENTATION,
  keypoints: Task.TASK_KEYPOINTS,
};

/** The StartTraining request of the flags; absent flags stay absent (the service's defaults apply). */
export function startTrainingRequest(options: StartOptions): StartTrainingRequest {
  if ((options.genotype === undefined) === (options.search === undefined)) {
    throw new Error('give exactly one of --genotype NAME|FILE and --search ID');
  }
  checkTaskFlags(options);
  const task = options.task;
  return {
    task: task === undefined ? Task.TASK_UNSPECIFIED : TASK_ENUM[task],
    detection:
      task === 'detection'
        ? {
            inputSize: options.inputSize?.height,
            boxSizes: [],
            aspectRatios: [],
            matchIou: options.matchIou,
            backboneModel: options.backboneModel ?? '',
            freezeBackboneEpochs: options.freezeBackboneEpochs,
            backboneLrScale: options.backboneLrScale,
            augmentation:
              options.augmentation === 'mirror'
                ? DetectionAugmentation.DETECTION_AUGMENTATION_MIRROR
                : options.augmentation === 'ssd'
                  ? DetectionAugmentation.DETECTION_AUGMENTATION_SSD
                  : DetectionAugmentation.DETECTION_AUGMENTATION_UNSPECIFIED,
          }
        : undefined,
    segmentation:
      task === 'segmentation'
        ? {
            inputHeight: options.inputSize?.height,
            inputWidth: options.inputSize?.width,
            scales: options.scales ?? [],
            backboneModel: options.backboneModel ?? '',
            headLrScale: options.headLrScale,
            auxiliaryWeight: options.auxWeight,
          }
        : undefined,
    keypoints:
      task === 'keypoints'
        ? {
            inputHeight: options.inputSize?.height,
            inputWidth: options.inputSize?.width,
            heatmapSigma: options.heatmapSigma,
            // Absent unless turned off: the service's default (on) applies.
            flipTest: options.flipTest === false ? false : undefined,
            scaleFactor: options.scaleFactor,
            rotationFactor: options.rotationFactor,
            backboneModel: options.backboneModel ?? '',
            keypointNames: [],
            skeleton: [],
            flipPairs: [],
            oksSigmas: [],
          }
        : undefined,
    architecture:
      options.genotype !== undefined
        ? { $case: 'genotype', value: genotypeToProto(parseGenotypeArg(options.genotype)) }
        : { $case: 'searchId', value: options.search as string },
    spec: {
      variant:
        options.variant === 'imagenet'
          ? NetworkVariant.NETWORK_VARIANT_IMAGENET
          : options.variant === 'cifar'
            ? NetworkVariant.NETWORK_VARIANT_CIFAR
            : NetworkVariant.NETWORK_VARIANT_UNSPECIFIED,
      channels: options.channels ?? 0,
      layers: options.layers ?? 0,
      classes: 0,
      inputChannels: 0,
      inputSize: 0,
      auxiliary: options.auxiliary === true,
    },
    datasetUri: options.dataset,
    modelName: options.model,
    recipe: {
      epochs: options.epochs,
      batchSize: options.batchSize,
      learningRate: options.learningRate,
      learningRateSchedule:
        options.schedule === 'constant'
          ? LearningRateSchedule.LEARNING_RATE_SCHEDULE_CONSTANT
          : options.schedule === 'cosine'
            ? LearningRateSchedule.LEARNING_RATE_SCHEDULE_COSINE
            : options.schedule === 'poly'
              ? LearningRateSchedule.LEARNING_RATE_SCHEDULE_POLY
              : LearningRateSchedule.LEARNING_RATE_SCHEDULE_UNSPECIFIED,
      learningRateMin: options.learningRateMin,
      momentum: options.momentum,
      weightDecay: options.weightDecay,
      auxiliaryWeight: options.auxiliaryWeight,
      cutout: options.cutout,
      dropPath: options.dropPath,
      gradClip: options.gradClip,
      labelSmoothing: options.labelSmoothing,
      cropPadding: options.cropPadding,
      horizontalFlip: options.flip,
      trainImages: options.trainImages,
      evalImages: options.evalImages,
      seed: options.seed,
    },
  };
}

export async function runTrainStart(options: StartOptions, io: CliIo): Promise<number> {
  const request = startTrainingRequest(options);
  const training = (
    await callService('training', TrainingServiceService, options, io, 'cannot start the training', (c) =>
      c.startTraining(request),
    )
  ).training as Training;
  io.stdout.write(
    options.json === true ? `${JSON.stringify(Training.toJSON(training), null, 2)}\n` : `${training.id}\n`,
  );
  io.stderr.write(
    `training ${training.id} ${stateName(training.state).toLowerCase()}; follow it with: rnas train watch ${training.id}\n`,
  );
  return options.watch === true
    ? runTrainWatch(training.id, { ...securityFlags(options), addr: options.addr }, io)
    : 0;
}

export async function runTrainGet(trainingId: string, options: ClientFlags, io: CliIo): Promise<number> {
  const training = (
    await callService('training', TrainingServiceService, options, io, 'cannot get the training', (c) =>
      c.getTraining({ trainingId }),
    )
  ).training as Training;
  io.stdout.write(
    options.json === true
      ? `${JSON.stringify(Training.toJSON(training), null, 2)}\n`
      : formatTraining(training),
  );
  return 0;
}

/** The `train` command: start|watch|get against the training service. */
export function trainClientCommand(io: CliIo = processIo): Command {
  const command = new Command('train').description('client of the training service: start|watch|get');
  command
    .command('start')
    .description(
      'train a genotype (or a succeeded search’s result) and publish it as a model; prints the training id',
    )
    .option('--genotype <name|file>', 'a published genotype name or a genotype JSON file')
    .option('--search <id>', 'the id of a succeeded search whose result is trained')
    .requiredOption('--dataset <uri>', 'dataset URI, resolved under the service’s data roots')
    .requiredOption('--model <name>', 'model name to publish under ([a-z0-9._-], 1 to 64 characters)')
    .addOption(addressOption('training'))
    .addOption(
      new Option(
        '--task <name>',
        'what to train: classification; detection (SSDLite, a voc: or coco: dataset); segmentation ' +
          '(BiSeNet, a voc-seg: or cityscapes: dataset); keypoints (SimpleBaseline, a coco-keypoints: dataset); ' +
          'the dense tasks on the ImageNet backbone',
      ).choices([...TASKS]),
    )
    .option(
      '--input-size <N|HxW>',
      'detection: square side N (default 320); segmentation: N or HxW (default 1024x1024); keypoints: ' +
        'crop HxW (default 256x192); multiples of 32',
      inputSize,
    )
    .option(
      '--backbone-model <name[:version]>',
      'detection, segmentation, keypoints: a classification model whose backbone seeds the network',
    )
    .option('--freeze-backbone-epochs <n>', 'detection: epochs that train the head only (default 0)', integer)
    .option(
      '--backbone-lr-scale <x>',
      'detection: learning-rate multiplier of the backbone (default 1)',
      decimal,
    )
    .option('--match-iou <x>', 'detection: IoU at which a prior matches a box (default 0.5)', decimal)
    .addOption(
      new Option(
        '--augmentation <name>',
        "detection: ssd (the reference's photometric, zoom out, crop, mirror; default) or mirror (flips only, for short schedules)",
      ).choices(['ssd', 'mirror']),
    )
    .option(
      '--scales <a,b,...>',
      'segmentation: scale factors of the training augmentation (default 0.75,1,1.25,1.5,1.75,2)',
      scaleList,
    )
    .option(
      '--head-lr-scale <x>',
      'segmentation: learning-rate multiplier of the fusion module and heads (default 10)',
      decimal,
    )
    .option('--aux-weight <x>', 'segmentation: weight of each auxiliary loss (default 1)', decimal)
    .option(
      '--heatmap-sigma <x>',
      'keypoints: sigma of the Gaussian targets, heatmap pixels (default 2)',
      decimal,
    )
    .option('--no-flip-test', 'keypoints: no averaging with the mirror image at inference')
    .option(
      '--scale-factor <x>',
      'keypoints: scale augmentation s, factors in [1-s, 1+s] (default 0.3)',
      decimal,
    )
    .option('--rotation-factor <x>', 'keypoints: rotation augmentation in degrees (default 40)', decimal)
    .addOption(
      new Option('--variant <name>', 'network family (default cifar)').choices(['cifar', 'imagenet']),
    )
    .option('--channels <n>', 'initial channels (default 36)', integer)
    .option('--layers <n>', 'cells (default 20)', integer)
    .option('--auxiliary', 'build and train the auxiliary head')
    .option('--epochs <n>', 'epochs (default 600)', integer)
    .option('--batch-size <n>', 'mini-batch size (default 128)', integer)
    .option('--learning-rate <x>', 'initial learning rate (default 0.025)', decimal)
    .option('--learning-rate-min <x>', 'final learning rate of the cosine schedule (default 0)', decimal)
    .addOption(
      new Option(
        '--schedule <name>',
        'learning-rate schedule (default cosine; poly: (1 - epoch/epochs)^0.9, BiSeNet’s)',
      ).choices(['cosine', 'constant', 'poly']),
    )
    .option('--momentum <x>', 'SGD momentum (default 0.9)', decimal)
    .option('--weight-decay <x>', 'SGD weight decay (default 3e-4)', decimal)
    .option('--auxiliary-weight <x>', 'weight of the auxiliary loss (default 0.4)', decimal)
    .option('--cutout <n>', 'cutout side, 0 disables (default 16)', integer)
    .option('--drop-path <x>', 'final drop-path probability (default 0.3)', decimal)
    .option('--grad-clip <x>', 'gradient-norm clip, 0 disables (default 5)', decimal)
    .option('--label-smoothing <x>', 'label smoothing (default 0)', decimal)
    .option('--crop-padding <n>', 'random-crop padding, 0 disables (default 4)', integer)
    .option('--no-flip', 'no random horizontal flips')
    .option('--train-images <n>', 'training images per epoch, 0: all (default 0)', integer)
    .option('--eval-images <n>', 'test images per epoch, 0: all (default 0)', integer)
    .option('--seed <n>', 'seed (default: the service picks one)', integer)
    .option('--watch', 'follow the training until it ends')
    .option('--json', 'print the stored training as JSON')
    .action((options: StartOptions) => exitWith(() => runTrainStart(options, io)));
  command
    .command('watch')
    .description('follow a training: its history, then live epochs, until it ends')
    .argument('<id>', 'training id')
    .addOption(addressOption('training'))
    .option('--after <sequence>', 'only events after this sequence', integer)
    .option('--json', 'one JSON line per event')
    .action((id: string, options: WatchFlags) => exitWith(() => runTrainWatch(id, options, io)));
  command
    .command('get')
    .description('show one training')
    .argument('<id>', 'training id')
    .addOption(addressOption('training'))
    .option('--json', 'print the training as JSON')
    .action((id: string, options: ClientFlags) => exitWith(() => runTrainGet(id, options, io)));
  return overrideExit(command, io);
}
