#!/usr/bin/env python3
"""An Open Inference Protocol client written against nothing but generated stubs and grpcio.

A second, independent client of the inference service's inference.GRPCInferenceService (the first
is the TypeScript one of the service's tests): it proves the wire format, not our own reading of
it. Run by services/inference/src/oip-python.test.ts with stubs generated at test time, once from
proto/inference/*.proto and once from KServe's own file (test/upstream/open_inference_grpc.proto).

Usage: /usr/bin/python3 oip_client.py --address HOST:PORT --model NAME --stubs DIR
           --module MODULE --tensor FILE IMAGE...
  --stubs DIR    where grpc_tools.protoc wrote the stubs (put on sys.path)
  --module NAME  the messages' module: inference.grpc_service_pb2 for ours, open_inference_grpc_pb2
                 for KServe's; the service stub is NAME + '_grpc'
  --tensor FILE  little-endian float32 values, NHWC, a whole number of the model's inputs
  IMAGE          encoded images (JPEG, PNG, WebP), sent as one batch (shape [N] raw, [N, 1] typed)
Needs Debian's python3-grpcio and python3-grpc-tools (run it with /usr/bin/python3).

Prints one JSON object: the readiness flags, the model's metadata, and for each of the four ways
of sending input (images or the tensor, in raw_input_contents or in typed contents) what came
back: id, version, the outputs' name/datatype/shape/where the data was, and the probabilities as
one row per image. A failed call exits 1 naming the call, its code and its details.
"""
import argparse
import importlib
import json
import struct
import sys

import grpc


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--address', required=True)
    parser.add_argument('--model', required=True)
    parser.add_argument('--stubs', required=True)
    parser.add_argument('--module', required=True)
    parser.add_argument('--tensor', required=True)
    parser.add_argument('--timeout', type=float, default=60.0)
    parser.add_argument('images', nargs='+')
    return parser.parse_args()


def call(what, method, request, timeout):
    try:
        return method(request, timeout=timeout)
    except grpc.RpcError as error:
        sys.exit(f'oip_client: {what} failed: {error.code().name}: {error.details()}')


def tensor_metadata(tensors):
    return [{'name': t.name, 'datatype': t.datatype, 'shape': list(t.shape)} for t in tensors]


def fp32_values(response, index, output):
    """An FP32 output's values: from raw_output_contents when the server used it, else typed contents."""
    if len(response.raw_output_contents) > 0:
        raw = response.raw_output_contents[index]
        if len(raw) % 4 != 0:
            sys.exit(f'oip_client: output {output.name} has {len(raw)} raw bytes, not a multiple of 4')
        return 'raw', list(struct.unpack(f'<{len(raw) // 4}f', raw))
    return 'contents', list(output.contents.fp32_contents)


def rows(values, shape):
    if len(shape) != 2 or shape[0] * shape[1] != len(values):
        sys.exit(f'oip_client: {len(values)} values do not fill the shape {list(shape)}')
    width = shape[1]
    return [values[i * width : (i + 1) * width] for i in range(shape[0])]


def summary(response):
    outputs = []
    probabilities = None
    for index, output in enumerate(response.outputs):
        entry = {'name': output.name, 'datatype': output.datatype, 'shape': list(output.shape)}
        if output.datatype == 'FP32':
            entry['data'], values = fp32_values(response, index, output)
            if output.name == 'probabilities':
                probabilities = rows(values, list(output.shape))
        outputs.append(entry)
    return {
        'id': response.id,
        'model_name': response.model_name,
        'model_version': response.model_version,
        'outputs': outputs,
        'probabilities': probabilities,
    }


def main():
    args = parse_args()
    sys.path.insert(0, args.stubs)
    pb = importlib.import_module(args.module)
    pb_grpc = importlib.import_module(args.module + '_grpc')

    images = []
    for path in args.images:
        with open(path, 'rb') as f:
            images.append(f.read())
    with open(args.tensor, 'rb') as f:
        raw_tensor = f.read()

    with grpc.insecure_channel(args.address) as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        timeout = args.timeout
        live = call('ServerLive', stub.ServerLive, pb.ServerLiveRequest(), timeout)
        ready = call('ServerReady', stub.ServerReady, pb.ServerReadyRequest(), timeout)
        model_ready = call('ModelReady', stub.ModelReady, pb.ModelReadyRequest(name=args.model), timeout)
        metadata = call('ModelMetadata', stub.ModelMetadata, pb.ModelMetadataRequest(name=args.model), timeout)

        # The tensor's batch size follows from the model's own NHWC input shape, as a client that
        # knows nothing but the metadata would work it out.
        inputs = {t.name: list(t.shape) for t in metadata.inputs}
        if 'input' not in inputs or len(inputs['input']) != 4:
            sys.exit(f'oip_client: ModelMetadata has no NHWC input "input": {inputs}')
        height, width, channels = inputs['input'][1:]
        per_item = height * width * channels * 4
        if len(raw_tensor) == 0 or len(raw_tensor) % per_item != 0:
            sys.exit(f'oip_client: {args.tensor} has {len(raw_tensor)} bytes, not N x {per_item}')
        tensor_shape = [len(raw_tensor) // per_item, height, width, channels]
        floats = list(struct.unpack(f'<{len(raw_tensor) // 4}f', raw_tensor))

        Input = pb.ModelInferRequest.InferInputTensor
        # BYTES in raw_input_contents: every element preceded by its 4-byte little-endian length.
        length_prefixed = b''.join(struct.pack('<I', len(image)) + image for image in images)
        # The images go once as [N] and once as [N, 1], the two shapes the protocol's clients use.
        requests = {
            'images_raw': pb.ModelInferRequest(
                inputs=[Input(name='images', datatype='BYTES', shape=[len(images)])],
                raw_input_contents=[length_prefixed],
            ),
            'images_contents': pb.ModelInferRequest(
                inputs=[
                    Input(
                        name='images',
                        datatype='BYTES',
                        shape=[len(images), 1],
                        contents=pb.InferTensorContents(bytes_contents=images),
                    )
                ],
            ),
            'tensor_raw': pb.ModelInferRequest(
                inputs=[Input(name='input', datatype='FP32', shape=tensor_shape)],
                raw_input_contents=[raw_tensor],
            ),
            'tensor_contents': pb.ModelInferRequest(
                inputs=[
                    Input(
                        name='input',
                        datatype='FP32',
                        shape=tensor_shape,
                        contents=pb.InferTensorContents(fp32_contents=floats),
                    )
                ],
            ),
        }
        infer = {}
        for key, request in requests.items():
            request.model_name = args.model
            request.id = f'python-{key}'
            infer[key] = summary(call(f'ModelInfer {key}', stub.ModelInfer, request, timeout))

    json.dump(
        {
            'server_live': live.live,
            'server_ready': ready.ready,
            'model_ready': model_ready.ready,
            'metadata': {
                'name': metadata.name,
                'versions': list(metadata.versions),
                'platform': metadata.platform,
                'inputs': tensor_metadata(metadata.inputs),
                'outputs': tensor_metadata(metadata.outputs),
            },
            'tensor_shape': tensor_shape,
            'infer': infer,
        },
        sys.stdout,
    )
    sys.stdout.write('\n')


if __name__ == '__main__':
    main()
