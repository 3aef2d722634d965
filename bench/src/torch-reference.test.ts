// The PyTorch column's plumbing: where the pieces are looked for, why the column is left out when
// one is missing, and reading the script's JSON line (a stand-in interpreter plays the script).
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import {
  parseTorchOutput,
  REFERENCE_FILES,
  torchLocations,
  torchMissing,
  torchReference,
  type TorchSetup,
} from './torch-reference';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'rnas-torch-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A complete set-up whose "python" is a shell script printing `output` (and recording its args). */
function fakeSetup(output: string): TorchSetup {
  const script = path.join(dir, 'torch_reference_speed.py');
  writeFileSync(script, '# stand-in\n');
  const ref = path.join(dir, 'ref');
  rmSync(ref, { recursive: true, force: true });
  mkdirSync(ref);
  for (const f of REFERENCE_FILES) writeFileSync(path.join(ref, f), '');
  const python = path.join(dir, 'python');
  writeFileSync(
    python,
    `#!/bin/sh\necho "$@" > ${JSON.stringify(path.join(dir, 'args'))}\nprintf '%s\\n' ${JSON.stringify(output)}\n`,
  );
  chmodSync(python, 0o755);
  return { script, ref, python };
}

it('looks in the options, then the variables, then the documented places', () => {
  expect(torchLocations({}, {})).toEqual({
    script: expect.stringMatching(/shared\/bench\/torch_reference_speed\.py$/),
    ref: '/tmp/rnas-ref',
    python: '/usr/bin/python3',
  });
  const env = { RNAS_TORCH_BENCH: '/b.py', RNAS_TORCH_REF: '/r', RNAS_TORCH_PYTHON: '/p' };
  expect(torchLocations({}, env)).toEqual({ script: '/b.py', ref: '/r', python: '/p' });
  expect(torchLocations({ script: '/s', ref: '/x', python: '/y' }, env)).toEqual({
    script: '/s',
    ref: '/x',
    python: '/y',
  });
});

it('says which piece is missing, naming the path and the variable', async () => {
  const setup = fakeSetup('{}');
  expect(await torchMissing(setup)).toBeNull();
  expect(await torchMissing({ ...setup, script: path.join(dir, 'nope.py') })).toMatch(
    /timing script .*nope\.py is not there \(set RNAS_TORCH_BENCH\)/,
  );
  rmSync(path.join(setup.ref, 'model.py'));
  expect(await torchMissing(setup)).toMatch(
    /reference definition is not in .*ref \(model\.py missing; .*RNAS_TORCH_REF/,
  );
  expect(await torchMissing({ ...fakeSetup('{}'), python: path.join(dir, 'no-python') })).toMatch(
    /no-python cannot import torch and torchvision .*python3-torch python3-torchvision/,
  );
});

it('reads the JSON line and passes the network, batch and threads to the script', async () => {
  const setup = fakeSetup('{"train_img_s": 86.7, "forward_img_s": 428.0, "torch": "1.13.1"}');
  const figures = await torchReference(setup, { layers: 8, channels: 16, batch: 64, threads: 2, seconds: 3 });
  expect(figures).toEqual({
    trainImagesPerSecond: 86.7,
    forwardImagesPerSecond: 428,
    torchVersion: '1.13.1',
  });
  const args = readFileSync(path.join(dir, 'args'), 'utf8').trim();
  expect(args).toBe(
    `${setup.script} --ref ${setup.ref} --genotype DARTS_V2 --layers 8 --channels 16 --batch 64 --threads 2 --seconds 3`,
  );
});

it('refuses output without positive figures, quoting it', () => {
  for (const bad of [
    '',
    'Traceback: boom',
    '{"train_img_s": 0, "forward_img_s": 1}',
    '{"train_img_s": "x"}',
    '{not json',
  ]) {
    expect(() => parseTorchOutput(bad)).toThrow(
      /printed no JSON line with positive train_img_s and forward_img_s/,
    );
  }
  expect(
    parseTorchOutput('warming up\n{"train_img_s": 1.5, "forward_img_s": 2}\n').trainImagesPerSecond,
  ).toBe(1.5);
});
