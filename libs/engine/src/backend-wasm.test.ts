// backend.test.ts mocks the kernel module; this checks the real wiring: choosing wasm registers
// the training kernels, and one of them then runs on wasm.
import { tf } from './tf';
import { initBackend } from './backend';

it('registers the wasm training kernels when wasm is chosen, and they run on it', async () => {
  const info = await initBackend('wasm');
  expect(info.tfBackend).toBe('wasm');
  for (const kernel of [
    'Conv2DBackpropFilter',
    'DepthwiseConv2dNativeBackpropInput',
    'DepthwiseConv2dNativeBackpropFilter',
  ]) {
    expect(tf.getKernel(kernel, 'wasm')).toBeDefined();
  }
  const before = tf.memory().numTensors;
  const dw = tf.tidy(() => {
    const x = tf.ones([1, 3, 3, 1]);
    const dy = tf.ones([1, 2, 2, 1]);
    return tf.engine().runKernel(
      'Conv2DBackpropFilter',
      { x, dy },
      {
        strides: [1, 1],
        pad: 'valid',
        dataFormat: 'NHWC',
        filterShape: [2, 2, 1, 1],
      },
    ) as tf.Tensor;
  });
  // Each of the four 2x2 windows of a 3x3 input of ones sums four ones.
  expect(dw.shape).toEqual([2, 2, 1, 1]);
  expect(Array.from(await dw.data())).toEqual([4, 4, 4, 4]);
  dw.dispose();
  expect(tf.memory().numTensors).toBe(before);
});
