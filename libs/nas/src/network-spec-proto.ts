// Conversion between a network's spec and the NetworkSpec message the services exchange, beside
// the genotype's (genotype-proto.ts). The way in comes from the wire: every field is checked and
// an error names the message's field (snake_case, as the client wrote it) and the value.
import { z } from 'zod';
import { NetworkVariant as NetworkVariantProto, NetworkSpec as NetworkSpecProto } from '@rnas/proto';
import type { Genotype } from './genotype';
import { genotypeFromProto, genotypeToProto } from './genotype-proto';
import type { NetworkSpec, NetworkVariant } from './network';

/** A NetworkSpec message's fields as the library names them; a size of 0 is left to the reader. */
export interface NetworkSpecFields {
  readonly variant: NetworkVariant;
  readonly channels: number;
  readonly layers: number;
  readonly classes: number;
  readonly inChannels: number;
  readonly inputSize: number;
  readonly auxiliary: boolean;
  /** Absent when the message carries none. */
  readonly genotype?: Genotype;
}

/** A field of a NetworkSpec message that cannot be read: its path, its value and why. */
export class NetworkSpecProtoError extends Error {
  constructor(
    /** The message's field as the client names it, e.g. `spec.input_channels`. */
    readonly field: string,
    readonly value: unknown,
    readonly reason: string,
  ) {
    super(`${field}: ${reason}`);
    this.name = 'NetworkSpecProtoError';
  }
}

const VARIANTS: Record<NetworkVariant, NetworkVariantProto> = {
  cifar: NetworkVariantProto.NETWORK_VARIANT_CIFAR,
  imagenet: NetworkVariantProto.NETWORK_VARIANT_IMAGENET,
};

/** The message's field names where they differ from the library's. */
const PROTO_NAMES: Record<string, string> = { inputChannels: 'input_channels', inputSize: 'input_size' };

const int = (min: number, max: number): z.ZodNumber => {
  const error = `expected an integer in [${min}, ${max}]`;
  return z.number({ error }).int({ error }).min(min, { error }).max(max, { error });
};

const VARIANT_ERROR = 'expected NETWORK_VARIANT_CIFAR or NETWORK_VARIANT_IMAGENET';

const SpecSchema = z.object({
  variant: z
    .enum(NetworkVariantProto, { error: VARIANT_ERROR })
    .refine((v) => v !== NetworkVariantProto.UNRECOGNIZED, { error: VARIANT_ERROR }),
  genotype: z.unknown().optional(),
  channels: int(0, 1024),
  layers: int(0, 200),
  classes: int(0, 100_000),
  inputChannels: z.union([z.literal(0), z.literal(1), z.literal(3)], { error: 'expected 0, 1 or 3' }),
  inputSize: int(0, 4096),
  auxiliary: z.boolean(),
});

/** The NetworkSpec message of a network whose input images are `inputSize` pixels square. */
export function networkSpecToProto(spec: NetworkSpec, inputSize: number): NetworkSpecProto {
  return {
    variant: VARIANTS[spec.variant],
    genotype: genotypeToProto(spec.genotype),
    channels: spec.channels,
    layers: spec.layers,
    classes: spec.classes,
    inputChannels: spec.inChannels,
    inputSize,
    auxiliary: spec.auxiliary,
  };
}

/**
 * The fields of a NetworkSpec message, checked; `field` is the message's path in its request. An
 * absent message reads as an empty one (as on the wire), an unspecified variant as the CIFAR
 * network; sizes of 0 stay 0 (the reader decides them).
 */
export function networkSpecFromProto(
  message: NetworkSpecProto | undefined,
  field = 'spec',
): NetworkSpecFields {
  message ??= NetworkSpecProto.create();
  const parsed = SpecSchema.safeParse(message);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const key = String(issue.path[0] ?? '');
    throw new NetworkSpecProtoError(
      `${field}${key === '' ? '' : `.${PROTO_NAMES[key] ?? key}`}`,
      key === '' ? message : (message as unknown as Record<string, unknown>)[key],
      issue.message,
    );
  }
  const s = parsed.data;
  let genotype: Genotype | undefined;
  if (message.genotype !== undefined) {
    try {
      genotype = genotypeFromProto(message.genotype, `${field}.genotype`);
    } catch (err) {
      throw new NetworkSpecProtoError(`${field}.genotype`, '(a genotype)', (err as Error).message);
    }
  }
  return {
    variant: s.variant === NetworkVariantProto.NETWORK_VARIANT_IMAGENET ? 'imagenet' : 'cifar',
    channels: s.channels,
    layers: s.layers,
    classes: s.classes,
    inChannels: s.inputChannels,
    inputSize: s.inputSize,
    auxiliary: s.auxiliary,
    ...(genotype === undefined ? {} : { genotype }),
  };
}
