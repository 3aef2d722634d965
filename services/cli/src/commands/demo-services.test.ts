// The demo's service processes on the real `rnas serve`: started on ports the demo chose, ready
// through grpc.health.v1, stopped with SIGTERM, their logs in the run folder's files.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { checkHealth, freePorts, scrapeMetrics, SERVICE_ENDPOINTS } from '@rnas/grpc';
import { startService, stopService } from './demo-services';

describe('demo services', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'rnas-demo-services-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('starts the inference service through the CLI on the ports given, ready once it serves, and stops it with SIGTERM', async () => {
    const log = path.join(dir, 'inference.log');
    const [port, metricsPort] = await freePorts(2);
    const service = await startService('inference', {
      port,
      metricsPort,
      flags: ['--model-repo', path.join(dir, 'models')],
      logFile: log,
      timeoutMs: 60_000,
    });
    try {
      expect(service).toMatchObject({ port, metricsPort, address: `127.0.0.1:${port}` });
      expect(await checkHealth(service.address, SERVICE_ENDPOINTS.inference.service)).toBe('SERVING');
      // Ready means the initial model load is done, and the metrics endpoint answers.
      expect(readFileSync(log, 'utf8')).toContain('initial model load done');
      expect(await scrapeMetrics(service.metricsUrl)).toContain('grpc_server_started_total');
    } finally {
      expect(await stopService(service, 30_000)).toBeUndefined();
    }
    expect(await service.exited).toBe(0);
    expect(readFileSync(log, 'utf8')).toContain('"msg":"stopped"');
  });

  it('reports a service that exits before serving, with the end of its log', async () => {
    await expect(
      startService('search', {
        port: 70000,
        metricsPort: 70001,
        flags: [],
        logFile: path.join(dir, 'search.log'),
        timeoutMs: 60_000,
      }),
    ).rejects.toThrow(
      /the search service exited \(2\) before serving; its log .*search\.log ends:\n.*--port/s,
    );
  });

  it('stops a service that does not serve in time, and says so with the end of its log', async () => {
    const [port, metricsPort] = await freePorts(2);
    await expect(
      startService('inference', {
        port,
        metricsPort,
        flags: ['--model-repo', path.join(dir, 'models')],
        logFile: path.join(dir, 'inference.log'),
        timeoutMs: 1,
      }),
    ).rejects.toThrow(
      new RegExp(
        `^the inference service did not start within 0 s \\(relativenas\\.v1\\.InferenceService at 127\\.0\\.0\\.1:${port} ` +
          // The one health check in that millisecond may end before it (refused: the service is
          // still loading) or not at all; either way the message says what it saw last.
          'was not serving within 1 ms \\(last: (no answer|UNAVAILABLE: .*)\\)\\); its log .*inference\\.log ends:\\n',
      ),
    );
  });
});
