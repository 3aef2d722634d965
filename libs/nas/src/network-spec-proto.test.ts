import { NetworkSpec as NetworkSpecProto, NetworkVariant } from '@rnas/proto';
import { getPublishedGenotype } from './genotypes';
import { genotypesEqual } from './genotype';
import type { NetworkSpec } from './network';
import { networkSpecFromProto, NetworkSpecProtoError, networkSpecToProto } from './network-spec-proto';

/** The paper's CIFAR-10 evaluation network with the RelativeNAS cell. */
const SPEC: NetworkSpec = {
  variant: 'cifar',
  genotype: getPublishedGenotype('RelativeNAS'),
  channels: 36,
  layers: 20,
  classes: 10,
  inChannels: 3,
  auxiliary: true,
};

const EMPTY = NetworkSpecProto.create();

function failure(message: unknown, field?: string): NetworkSpecProtoError {
  try {
    networkSpecFromProto(message as NetworkSpecProto, field);
  } catch (err) {
    expect(err).toBeInstanceOf(NetworkSpecProtoError);
    return err as NetworkSpecProtoError;
  }
  throw new Error('expected an error');
}

describe('network spec <-> protobuf NetworkSpec', () => {
  it.each(['cifar', 'imagenet'] as const)('round-trips a %s network through the wire format', (variant) => {
    const message = networkSpecToProto({ ...SPEC, variant }, 32);
    expect(message).toMatchObject({
      variant:
        variant === 'cifar' ? NetworkVariant.NETWORK_VARIANT_CIFAR : NetworkVariant.NETWORK_VARIANT_IMAGENET,
      channels: 36,
      layers: 20,
      classes: 10,
      inputChannels: 3,
      inputSize: 32,
      auxiliary: true,
    });
    const back = networkSpecFromProto(NetworkSpecProto.decode(NetworkSpecProto.encode(message).finish()));
    const { genotype, ...rest } = back;
    expect(rest).toEqual({
      variant,
      channels: 36,
      layers: 20,
      classes: 10,
      inChannels: 3,
      inputSize: 32,
      auxiliary: true,
    });
    expect(genotypesEqual(genotype!, SPEC.genotype)).toBe(true);
  });

  it('reads an empty or absent message as the CIFAR network with every size left to the reader', () => {
    expect(networkSpecFromProto(undefined)).toEqual(networkSpecFromProto(EMPTY));
    expect(networkSpecFromProto(EMPTY)).toEqual({
      variant: 'cifar',
      channels: 0,
      layers: 0,
      classes: 0,
      inChannels: 0,
      inputSize: 0,
      auxiliary: false,
    });
  });

  it.each([
    [
      'an unknown variant',
      { variant: 9 },
      'spec.variant',
      9,
      'expected NETWORK_VARIANT_CIFAR or NETWORK_VARIANT_IMAGENET',
    ],
    [
      'UNRECOGNIZED',
      { variant: NetworkVariant.UNRECOGNIZED },
      'spec.variant',
      -1,
      'expected NETWORK_VARIANT_CIFAR',
    ],
    ['absurd channels', { channels: 100_000 }, 'spec.channels', 100_000, 'expected an integer in [0, 1024]'],
    ['fractional layers', { layers: 2.5 }, 'spec.layers', 2.5, 'expected an integer in [0, 200]'],
    ['negative classes', { classes: -1 }, 'spec.classes', -1, 'expected an integer in [0, 100000]'],
    ['NaN classes', { classes: NaN }, 'spec.classes', NaN, 'expected an integer'],
    ['2 input channels', { inputChannels: 2 }, 'spec.input_channels', 2, 'expected 0, 1 or 3'],
    [
      'a huge input size',
      { inputSize: 2 ** 32 - 1 },
      'spec.input_size',
      2 ** 32 - 1,
      'expected an integer in [0, 4096]',
    ],
    ['a string for a number', { channels: '16' }, 'spec.channels', '16', 'expected an integer'],
    ['a number for auxiliary', { auxiliary: 1 }, 'spec.auxiliary', 1, 'expected boolean'],
  ])('refuses %s, naming the field and the value', (_what, over, field, value, reason) => {
    const err = failure({ ...EMPTY, ...over });
    expect(err.field).toBe(field);
    expect(err.value).toEqual(value);
    expect(err.reason).toContain(reason);
    expect(err.message).toContain(field);
  });

  it('refuses a message that is no message, and a bad genotype, naming the path it was given', () => {
    expect(failure(7, 'request.spec').field).toBe('request.spec');
    expect(failure('spec').field).toBe('spec');
    const bad = failure({
      ...EMPTY,
      genotype: { normal: [], normalConcat: [], reduce: [], reduceConcat: [] },
    });
    expect(bad.field).toBe('spec.genotype');
    expect(bad.value).toBe('(a genotype)');
    const edge = failure({
      ...EMPTY,
      genotype: {
        ...networkSpecToProto(SPEC, 32).genotype!,
        normal: [
          { op: 'rm -rf', input: 0 },
          { op: 'skip_connect', input: 1 },
        ],
      },
    });
    expect(edge.message).toMatch(/^spec\.genotype: spec\.genotype: normal\[0\]/);
  });
});
