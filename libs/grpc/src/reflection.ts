import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { loadSync } from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { protoPath as healthProtoPath } from 'grpc-health-check';

/**
 * The repository's `proto/` folder. It is the same relative place from `src/` (tests) and from
 * `dist/` (the built service), so a fresh clone needs no protoc and no generated descriptor set;
 * a container image must ship `proto/` beside `libs/`.
 */
export const PROTO_ROOT = path.resolve(__dirname, '../../../proto');

/** The health service's own name, served by grpc-health-check. */
export const HEALTH_SERVICE = 'grpc.health.v1.Health';

/**
 * Server reflection (grpc.reflection.v1 and v1alpha) for `services`, from the .proto sources:
 * @grpc/reflection answers from proto-loader package definitions, which carry the file
 * descriptors that ts-proto's output lacks. Every .proto under `protoRoot` is loaded (imports
 * resolve against it) together with the health proto of grpc-health-check, and only the listed
 * services are exposed.
 */
export function createReflection(
  services: readonly string[],
  protoRoot: string = PROTO_ROOT,
): ReflectionService {
  if (!existsSync(protoRoot)) {
    throw new Error(`reflection: proto folder ${protoRoot} does not exist (ship proto/ beside libs/)`);
  }
  const files = readdirSync(protoRoot, { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.proto'))
    .sort();
  const healthRoot = path.resolve(path.dirname(healthProtoPath), '../..');
  const definition = loadSync([...files, path.relative(healthRoot, healthProtoPath)], {
    includeDirs: [protoRoot, healthRoot],
  });
  const missing = services.filter((name) => !(name in definition));
  if (missing.length > 0) {
    throw new Error(`reflection: no .proto under ${protoRoot} defines ${missing.join(', ')}`);
  }
  return new ReflectionService(definition, { services: [...services] });
}
