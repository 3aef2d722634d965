// `rnas serve training` and `node services/training/dist/main.js`: the training service as a process,
// configured by flags and environment, serving until SIGTERM or SIGINT (then it drains).
import { runMain, serviceMain } from '@rnas/grpc';
import { loadTrainingServiceConfig, trainingServiceHelp } from './config';
import { startTrainingService } from './service';

/** Runs the service until it is stopped by a signal; returns the exit code. */
export const serveTraining = serviceMain({
  name: 'training',
  help: trainingServiceHelp,
  load: loadTrainingServiceConfig,
  start: (config) => startTrainingService(config),
});

if (require.main === module) runMain('training', serveTraining);
