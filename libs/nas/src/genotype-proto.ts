// Conversion between the plain-data genotype and the protobuf message the services exchange.
// Messages come from the wire, so the way in is validated like any other input.
import { Genotype as GenotypeProto } from '@rnas/proto';
import { GenotypeError, validateGenotype, type Edge, type Genotype, type OpName } from './genotype';

/** The protobuf message for a genotype (validated first: a bad genotype never goes on the wire). */
export function genotypeToProto(genotype: Genotype): GenotypeProto {
  validateGenotype(genotype);
  return {
    normal: genotype.normal.map(([op, input]) => ({ op, input })),
    normalConcat: [...genotype.normalConcat],
    reduce: genotype.reduce.map(([op, input]) => ({ op, input })),
    reduceConcat: [...genotype.reduceConcat],
  };
}

/** A validated genotype from a protobuf message; errors name the field, e.g. `reduce[3]`. */
export function genotypeFromProto(message: GenotypeProto, source = 'Genotype message'): Genotype {
  if (typeof message !== 'object' || message === null) {
    throw new GenotypeError(`${source}: expected a Genotype message, got ${String(message)}`);
  }
  const edges = (field: 'normal' | 'reduce'): Edge[] => {
    const list: unknown = message[field];
    if (!Array.isArray(list)) throw new GenotypeError(`${source}: ${field} must be a list of edges`);
    return list.map((edge: unknown, e): Edge => {
      if (typeof edge !== 'object' || edge === null) {
        throw new GenotypeError(`${source}: ${field}[${e}]: expected an Edge, got ${String(edge)}`);
      }
      const { op, input } = edge as { op?: unknown; input?: unknown };
      // Unchecked casts here; validateGenotype below checks both fields and names the edge.
      return [op as OpName, input as number];
    });
  };
  const genotype: Genotype = {
    normal: edges('normal'),
    normalConcat: Array.isArray(message.normalConcat) ? [...message.normalConcat] : message.normalConcat,
    reduce: edges('reduce'),
    reduceConcat: Array.isArray(message.reduceConcat) ? [...message.reduceConcat] : message.reduceConcat,
  };
  validateGenotype(genotype, source);
  return genotype;
}
