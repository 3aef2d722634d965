// The options every job service takes besides the common ones (libs/grpc SERVICE_OPTIONS).
import { integerOption, type OptionSpec } from '@rnas/grpc';

/**
 * How many unfinished (queued, running or cancelling) jobs one subject may have in a service;
 * 0, the default, is no limit (a service without authentication has one subject, `anonymous`).
 */
export const MAX_JOBS_PER_SUBJECT_OPTION = {
  flag: '--max-jobs-per-subject',
  env: 'RNAS_MAX_JOBS_PER_SUBJECT',
  description:
    'unfinished (queued, running, cancelling) jobs one subject may have; a start beyond it is ' +
    'RESOURCE_EXHAUSTED (0: no limit)',
  schema: integerOption(0, 1_000_000),
  default: '0',
} satisfies OptionSpec<number>;
