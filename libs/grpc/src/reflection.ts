import path from 'node:path';
import { fromBinary } from '@bufbuild/protobuf';
import {
  FileDescriptorProtoSchema,
  type DescriptorProto,
  type EnumDescriptorProto,
  type FieldDescriptorProto,
  type FileDescriptorProto,
} from '@bufbuild/protobuf/wkt';
import {
  loadPackageDefinition,
  status,
  type Server,
  type ServerDuplexStream,
  type ServiceDefinition,
} from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { FILE_DESCRIPTOR_SET_BASE64 } from '@rnas/proto';

/** The health service's own name, served by grpc-health-check. */
export const HEALTH_SERVICE = 'grpc.health.v1.Health';

/**
 * The FileDescriptorSet that `make proto` generates: every file of proto/ with its imports and
 * grpc/health/v1/health.proto, each serialized as protoc writes it.
 */
export const FILE_DESCRIPTOR_SET: Uint8Array = Buffer.from(FILE_DESCRIPTOR_SET_BASE64, 'base64');

/** One file of a descriptor set: its bytes exactly as generated, and what they declare. */
interface FileEntry {
  name: string;
  bytes: Buffer;
  proto: FileDescriptorProto;
}

interface ReflectionRequest {
  host?: string;
  message_request?: string;
  file_by_filename?: string;
  file_containing_symbol?: string;
  file_containing_extension?: { containing_type?: string; extension_number?: number };
  all_extension_numbers_of_type?: string;
  list_services?: string;
}

interface ReflectionResponse {
  valid_host: string;
  original_request: ReflectionRequest;
  file_descriptor_response?: { file_descriptor_proto: Buffer[] };
  all_extension_numbers_response?: { base_type_name: string; extension_number: number[] };
  list_services_response?: { service: { name: string }[] };
  error_response?: { error_code: number; error_message: string };
}

class ReflectionError extends Error {
  constructor(
    readonly code: status,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The serialized FileDescriptorProtos of a serialized FileDescriptorSet (field 1, repeated),
 * sliced out as they are: re-encoding a decoded message could reorder or drop bytes.
 */
export function splitFileDescriptorSet(set: Uint8Array): Buffer[] {
  const bytes = Buffer.from(set.buffer, set.byteOffset, set.byteLength);
  const files: Buffer[] = [];
  let offset = 0;
  const varint = (): number => {
    let value = 0;
    for (let shift = 0; ; shift += 7) {
      if (offset >= bytes.length || shift > 49) throw new Error('reflection: truncated descriptor set');
      const byte = bytes[offset++];
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return value;
    }
  };
  while (offset < bytes.length) {
    const tag = varint();
    if (tag !== (1 << 3) + 2) throw new Error(`reflection: unexpected tag=${tag} in descriptor set`);
    const length = varint();
    if (offset + length > bytes.length) throw new Error('reflection: truncated descriptor set');
    files.push(bytes.subarray(offset, offset + length));
    offset += length;
  }
  return files;
}

/** Answers reflection requests from a FileDescriptorSet, for the listed services only. */
export class DescriptorReflection {
  private readonly files = new Map<string, FileEntry>();
  /** Fully-qualified name (no leading dot) of every declared element -> its file. */
  private readonly symbols = new Map<string, FileEntry>();
  /** Extendee -> extension number -> file. */
  private readonly extensions = new Map<string, Map<number, FileEntry>>();
  /** Fully-qualified names of the message types. */
  private readonly messages = new Set<string>();

  constructor(
    private readonly services: readonly string[],
    set: Uint8Array = FILE_DESCRIPTOR_SET,
  ) {
    for (const bytes of splitFileDescriptorSet(set)) {
      const proto = fromBinary(FileDescriptorProtoSchema, bytes);
      if (this.files.has(proto.name)) throw new Error(`reflection: file ${proto.name} appears twice`);
      const file = { name: proto.name, bytes, proto };
      this.files.set(proto.name, file);
      this.index(file);
    }
    for (const file of this.files.values()) {
      const missing = file.proto.dependency.filter((dependency) => !this.files.has(dependency));
      if (missing.length > 0) {
        throw new Error(`reflection: ${file.name} imports ${missing.join(', ')}, not in the descriptor set`);
      }
    }
    const undefinedServices = services.filter((name) => !this.isService(name));
    if (undefinedServices.length > 0) {
      throw new Error(`reflection: the descriptor set defines no service ${undefinedServices.join(', ')}`);
    }
  }

  /** Serves grpc.reflection.v1 and v1alpha on `server`. */
  addToServer(server: Server): void {
    for (const version of ['v1', 'v1alpha'] as const) {
      server.addService(reflectionDefinition(version), {
        ServerReflectionInfo: (stream: ServerDuplexStream<ReflectionRequest, ReflectionResponse>) => {
          stream.on('data', (request: ReflectionRequest) => stream.write(this.answer(request)));
          stream.on('end', () => stream.end());
          stream.on('error', () => undefined);
        },
      });
    }
  }

  /** The response to one request of the stream; failures are error_response, never a status. */
  answer(request: ReflectionRequest): ReflectionResponse {
    const response: ReflectionResponse = { valid_host: request.host ?? '', original_request: request };
    try {
      switch (request.message_request) {
        case 'list_services':
          response.list_services_response = { service: this.services.map((name) => ({ name })) };
          break;
        case 'file_by_filename':
          response.file_descriptor_response = this.fileByFilename(request.file_by_filename ?? '');
          break;
        case 'file_containing_symbol':
          response.file_descriptor_response = this.fileContainingSymbol(request.file_containing_symbol ?? '');
          break;
        case 'file_containing_extension': {
          const { containing_type = '', extension_number = 0 } = request.file_containing_extension ?? {};
          response.file_descriptor_response = this.fileContainingExtension(containing_type, extension_number);
          break;
        }
        case 'all_extension_numbers_of_type':
          response.all_extension_numbers_response = this.allExtensionNumbers(
            request.all_extension_numbers_of_type ?? '',
          );
          break;
        default:
          throw new ReflectionError(status.INVALID_ARGUMENT, 'invalid message_request: none set');
      }
    } catch (error) {
      if (!(error instanceof ReflectionError)) throw error;
      response.error_response = { error_code: error.code, error_message: error.message };
    }
    return response;
  }

  fileByFilename(name: string): { file_descriptor_proto: Buffer[] } {
    const file = this.files.get(name);
    if (!file) throw new ReflectionError(status.NOT_FOUND, `file_by_filename "${name}" not found`);
    return this.withDependencies(file);
  }

  fileContainingSymbol(symbol: string): { file_descriptor_proto: Buffer[] } {
    const file = this.symbols.get(symbol.replace(/^\./, ''));
    if (!file) throw new ReflectionError(status.NOT_FOUND, `file_containing_symbol "${symbol}" not found`);
    return this.withDependencies(file);
  }

  fileContainingExtension(type: string, number: number): { file_descriptor_proto: Buffer[] } {
    const file = this.extensions.get(type.replace(/^\./, ''))?.get(number);
    if (!file) {
      throw new ReflectionError(
        status.NOT_FOUND,
        `file_containing_extension: no extension ${number} of "${type}" found`,
      );
    }
    return this.withDependencies(file);
  }

  allExtensionNumbers(type: string): { base_type_name: string; extension_number: number[] } {
    const name = type.replace(/^\./, '');
    if (!this.messages.has(name)) {
      throw new ReflectionError(status.NOT_FOUND, `all_extension_numbers_of_type "${type}" not found`);
    }
    const numbers = [...(this.extensions.get(name)?.keys() ?? [])].sort((a, b) => a - b);
    return { base_type_name: name, extension_number: numbers };
  }

  /** The file, then every file it imports, directly or not, each once. */
  private withDependencies(file: FileEntry): { file_descriptor_proto: Buffer[] } {
    const seen = new Set<string>([file.name]);
    const order: FileEntry[] = [file];
    for (let i = 0; i < order.length; i++) {
      for (const dependency of order[i].proto.dependency) {
        if (seen.has(dependency)) continue;
        seen.add(dependency);
        order.push(this.files.get(dependency)!);
      }
    }
    return { file_descriptor_proto: order.map((entry) => entry.bytes) };
  }

  private isService(name: string): boolean {
    const file = this.symbols.get(name);
    return file?.proto.service.some((service) => qualify(file.proto.package, service.name) === name) ?? false;
  }

  private index(file: FileEntry): void {
    const add = (name: string): void => {
      this.symbols.set(name, file);
    };
    const addExtensions = (scope: string, fields: readonly FieldDescriptorProto[]): void => {
      for (const extension of fields) {
        add(qualify(scope, extension.name));
        const extendee = extension.extendee.replace(/^\./, '');
        if (!this.extensions.has(extendee)) this.extensions.set(extendee, new Map());
        this.extensions.get(extendee)!.set(extension.number, file);
      }
    };
    const addEnum = (scope: string, type: EnumDescriptorProto): void => {
      add(qualify(scope, type.name));
      // Enum values are siblings of their enum in protobuf's scoping.
      for (const value of type.value) add(qualify(scope, value.name));
    };
    const addMessage = (scope: string, type: DescriptorProto): void => {
      const name = qualify(scope, type.name);
      add(name);
      this.messages.add(name);
      for (const field of type.field) add(qualify(name, field.name));
      for (const oneof of type.oneofDecl) add(qualify(name, oneof.name));
      for (const nested of type.nestedType) addMessage(name, nested);
      for (const nested of type.enumType) addEnum(name, nested);
      addExtensions(name, type.extension);
    };
    const { proto } = file;
    for (const type of proto.messageType) addMessage(proto.package, type);
    for (const type of proto.enumType) addEnum(proto.package, type);
    for (const service of proto.service) {
      const name = qualify(proto.package, service.name);
      add(name);
      for (const method of service.method) add(qualify(name, method.name));
    }
    addExtensions(proto.package, proto.extension);
  }
}

function qualify(scope: string, name: string): string {
  return scope ? `${scope}.${name}` : name;
}

/** grpc.reflection.<version>.ServerReflection, from the proto that @grpc/reflection ships. */
function reflectionDefinition(version: 'v1' | 'v1alpha'): ServiceDefinition {
  const protoDir = path.join(path.dirname(require.resolve('@grpc/reflection/package.json')), 'build/proto');
  const definition = loadSync(`grpc/reflection/${version}/reflection.proto`, {
    includeDirs: [protoDir],
    keepCase: true,
    longs: Number,
    defaults: false,
    oneofs: true,
  });
  const loaded = loadPackageDefinition(definition) as unknown as {
    grpc: { reflection: Record<string, { ServerReflection: { service: ServiceDefinition } }> };
  };
  return loaded.grpc.reflection[version].ServerReflection.service;
}

/**
 * Server reflection (grpc.reflection.v1 and v1alpha) for `services`, from the FileDescriptorSet
 * generated with the code: the real files of proto/ under their own names, byte-equal to what
 * protoc writes, with their imports; grpc.health.v1 from grpc/health/v1/health.proto.
 */
export function createReflection(
  services: readonly string[],
  set: Uint8Array = FILE_DESCRIPTOR_SET,
): DescriptorReflection {
  return new DescriptorReflection(services, set);
}
