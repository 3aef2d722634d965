// The PyTorch reference column of `make bench-networks`: ../shared/bench/torch_reference_speed.py
// (beside the repository) times the authors' own network definition on this machine, in the same
// run as our figures. Its README says how to install Debian's PyTorch and where the reference
// definition comes from; when any of it is missing, the column is left out with the reason.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from './docs-section';

const run = promisify(execFile);

/** The reference definition's files (github:EMI-Group/RelativeNAS). */
export const REFERENCE_FILES = ['model.py', 'operations.py', 'genotypes.py', 'utils.py'] as const;

export interface TorchSetup {
  /** The timing script. */
  readonly script: string;
  /** The folder with the reference definition. */
  readonly ref: string;
  /** An interpreter that has torch. */
  readonly python: string;
}

export interface TorchLocations {
  /** Default: RNAS_TORCH_BENCH, else ../shared/bench/torch_reference_speed.py beside the repository. */
  script?: string;
  /** Default: RNAS_TORCH_REF, else /tmp/rnas-ref (where the script's README puts it). */
  ref?: string;
  /** Default: RNAS_TORCH_PYTHON, else /usr/bin/python3 (Debian's, which has python3-torch). */
  python?: string;
}

/** Where the reference pieces are: the options, else the variables, else the documented places. */
export function torchLocations(options: TorchLocations, env: NodeJS.ProcessEnv = process.env): TorchSetup {
  return {
    script:
      options.script ??
      env.RNAS_TORCH_BENCH ??
      path.resolve(REPO_ROOT, '..', 'shared', 'bench', 'torch_reference_speed.py'),
    ref: options.ref ?? env.RNAS_TORCH_REF ?? '/tmp/rnas-ref',
    python: options.python ?? env.RNAS_TORCH_PYTHON ?? '/usr/bin/python3',
  };
}

/** Null when everything is there, else why the PyTorch column is left out. */
export async function torchMissing(setup: TorchSetup): Promise<string | null> {
  if (!existsSync(setup.script)) {
    return `the timing script ${setup.script} is not there (set RNAS_TORCH_BENCH)`;
  }
  const absent = REFERENCE_FILES.filter((f) => !existsSync(path.join(setup.ref, f)));
  if (absent.length > 0) {
    return (
      `the reference definition is not in ${setup.ref} (${absent.join(', ')} missing; ` +
      `see ${path.join(path.dirname(setup.script), 'README.md')}, or set RNAS_TORCH_REF)`
    );
  }
  try {
    await run(setup.python, ['-c', 'import torch, torchvision'], { timeout: 120_000 });
  } catch (err) {
    const detail = ((err as { stderr?: string }).stderr ?? (err as Error).message).trim().split('\n').pop();
    return `${setup.python} cannot import torch and torchvision (${detail}; apt-get install python3-torch python3-torchvision, or set RNAS_TORCH_PYTHON)`;
  }
  return null;
}

export interface TorchRequest {
  readonly layers: number;
  readonly channels: number;
  readonly batch: number;
  readonly threads: number;
  readonly seconds: number;
}

export interface TorchFigures {
  readonly trainImagesPerSecond: number;
  readonly forwardImagesPerSecond: number;
  readonly torchVersion: string;
}

/** Reads the script's one JSON line, with an error that quotes what it printed otherwise. */
export function parseTorchOutput(stdout: string): TorchFigures {
  const line = stdout
    .trim()
    .split('\n')
    .reverse()
    .find((l) => l.trim().startsWith('{'));
  let parsed: Record<string, unknown> | undefined;
  try {
    parsed = line === undefined ? undefined : (JSON.parse(line) as Record<string, unknown>);
  } catch {
    parsed = undefined;
  }
  const train = parsed?.train_img_s;
  const forward = parsed?.forward_img_s;
  if (typeof train !== 'number' || typeof forward !== 'number' || !(train > 0) || !(forward > 0)) {
    throw new Error(
      `torch_reference_speed.py printed no JSON line with positive train_img_s and forward_img_s: ${JSON.stringify(stdout.slice(-500))}`,
    );
  }
  return {
    trainImagesPerSecond: train,
    forwardImagesPerSecond: forward,
    torchVersion: String(parsed?.torch ?? 'unknown'),
  };
}

/** Times the reference network (DARTS_V2, 32x32x3, 10 classes, no auxiliary head) with PyTorch. */
export async function torchReference(setup: TorchSetup, request: TorchRequest): Promise<TorchFigures> {
  const args = [
    setup.script,
    '--ref',
    setup.ref,
    '--genotype',
    'DARTS_V2',
    '--layers',
    String(request.layers),
    '--channels',
    String(request.channels),
    '--batch',
    String(request.batch),
    '--threads',
    String(request.threads),
    '--seconds',
    String(request.seconds),
  ];
  const { stdout } = await run(setup.python, args, { timeout: 3_600_000, maxBuffer: 2 ** 20 });
  return parseTorchOutput(stdout);
}
