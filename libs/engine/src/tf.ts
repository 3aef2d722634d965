// tfjs-core's CommonJS build registers no gradients and no chained tensor methods; the union
// package's Node build does, on load, into the same global registries. It is also what
// @tensorflow/tfjs-node(-gpu) loads, so every backend sees the same gradient definitions.
import '@tensorflow/tfjs';
import * as tf from '@tensorflow/tfjs-core';

// PROD silences tfjs's console banners and deprecation warnings; services log through pino.
tf.env().set('PROD', true);

export { tf };
