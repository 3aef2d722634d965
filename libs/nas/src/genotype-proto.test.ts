import { Genotype as GenotypeProto } from '@rnas/proto';
import { decodeVector, randomVector } from './encoding';
import { GenotypeError, genotypesEqual, type Genotype } from './genotype';
import { PUBLISHED_GENOTYPE_NAMES, getPublishedGenotype } from './genotypes';
import { genotypeFromProto, genotypeToProto } from './genotype-proto';

describe('genotype <-> protobuf Genotype', () => {
  it.each(PUBLISHED_GENOTYPE_NAMES)('round-trips %s through the wire format', (name) => {
    const genotype = getPublishedGenotype(name);
    const message = genotypeToProto(genotype);
    expect(message.normal[0]).toEqual({ op: genotype.normal[0][0], input: genotype.normal[0][1] });
    expect(message.reduceConcat).toEqual(genotype.reduceConcat);
    const wire = GenotypeProto.encode(message).finish();
    const back = genotypeFromProto(GenotypeProto.decode(wire));
    expect(genotypesEqual(back, genotype)).toBe(true);
  });

  it('round-trips genotypes of other step counts and concat lists', () => {
    let state = 7;
    const random = (): number => {
      state = (state * 48271) % 2147483647;
      return state / 2147483647;
    };
    for (let steps = 1; steps <= 6; steps++) {
      const genotype = decodeVector(randomVector(steps, random));
      genotype.reduceConcat = [0, steps + 1];
      const back = genotypeFromProto(
        GenotypeProto.decode(GenotypeProto.encode(genotypeToProto(genotype)).finish()),
      );
      expect(genotypesEqual(back, genotype)).toBe(true);
    }
  });

  it('round-trips through the proto JSON mapping', () => {
    const genotype = getPublishedGenotype('RelativeNAS');
    const json = GenotypeProto.toJSON(genotypeToProto(genotype));
    expect(genotypesEqual(genotypeFromProto(GenotypeProto.fromJSON(json)), genotype)).toBe(true);
  });

  it('refuses to send an invalid genotype', () => {
    const genotype = getPublishedGenotype('DARTS_V2');
    genotype.normal[6][1] = 5;
    expect(() => genotypeToProto(genotype)).toThrow(
      'genotype: normal[6]: input 5 out of range 0..4 for node 3',
    );
  });

  const message = (): GenotypeProto => genotypeToProto(getPublishedGenotype('DARTS_V1'));

  it.each<[string, GenotypeProto, string]>([
    [
      'an empty message',
      GenotypeProto.fromPartial({}),
      'Genotype message: normal: a cell needs at least one node',
    ],
    [
      'an unknown op',
      { ...message(), reduce: [{ op: 'conv_9x9', input: 0 }, ...message().reduce.slice(1)] },
      'Genotype message: reduce[0]: unknown op "conv_9x9"',
    ],
    [
      'an empty op (the proto default)',
      { ...message(), normal: [{ op: '', input: 0 }, ...message().normal.slice(1)] },
      'normal[0]: unknown op ""',
    ],
    [
      'an input out of range',
      { ...message(), normal: [...message().normal.slice(0, 7), { op: 'skip_connect', input: 9 }] },
      'normal[7]: input 9 out of range 0..4 for node 3',
    ],
    [
      'an odd edge count',
      { ...message(), reduce: message().reduce.slice(0, 3) },
      'reduce: expected an even number of edges (2 per node), got 3',
    ],
    [
      'a duplicated concat state',
      { ...message(), reduceConcat: [2, 3, 3] },
      'reduceConcat[2]: state 3 listed twice',
    ],
    [
      'an empty concat',
      { ...message(), normalConcat: [] },
      'normalConcat: a cell must output at least one state, got none',
    ],
    [
      'a null edge',
      { ...message(), normal: [null as unknown as GenotypeProto['normal'][number]] },
      'normal[0]: expected an Edge, got null',
    ],
    [
      'a missing edge list',
      { ...message(), reduce: undefined as unknown as GenotypeProto['reduce'] },
      'reduce must be a list of edges',
    ],
  ])('rejects %s, naming the field', (_label, bad, expected) => {
    expect(() => genotypeFromProto(bad)).toThrow(GenotypeError);
    expect(() => genotypeFromProto(bad)).toThrow(expected);
  });

  it('rejects a message decoded from wire bytes that break the rules', () => {
    const bad = { ...message(), normalConcat: [2, 3, 4, 6] };
    const decoded = GenotypeProto.decode(GenotypeProto.encode(bad).finish());
    expect(() => genotypeFromProto(decoded, 'SearchRequest.genotype')).toThrow(
      'SearchRequest.genotype: normalConcat[3]: state 6 out of range 0..5',
    );
  });

  it('returns plain data that does not alias the message', () => {
    const m = message();
    const genotype: Genotype = genotypeFromProto(m);
    m.normal[0].op = 'none';
    m.normalConcat.push(9);
    expect(genotype.normal[0][0]).toBe('sep_conv_3x3');
    expect(genotype.normalConcat).toEqual([2, 3, 4, 5]);
  });

  it.each([null, undefined, 3])('rejects %p as a message', (value) => {
    expect(() => genotypeFromProto(value as unknown as GenotypeProto)).toThrow('expected a Genotype message');
  });
});
