// Shared by this package's tests: a tiny freshly initialised network as an artifact (the format
// does not care whether the weights were trained). Not part of the package's API.
import type { ModelArtifact } from './artifact';
import { syntheticArtifact } from './synthetic';

/** DARTS_V2 cells, 4 channels, 3 cells, 3 classes, 8x8 grey images (call after `initBackend`). */
export async function tinyArtifact(): Promise<{ artifact: ModelArtifact }> {
  return {
    artifact: syntheticArtifact({ channels: 4, layers: 3, classes: 3, inChannels: 1, inputSize: 8, seed: 7 }),
  };
}
