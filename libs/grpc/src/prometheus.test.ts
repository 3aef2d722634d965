// The demo's Prometheus reading: the histogram arithmetic, and one scrape against a stand-in
// endpoint that answers, refuses, says nothing, or never stops talking.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { histogramMean, scrapeMetrics } from './prometheus';

describe('histogramMean', () => {
  it('averages a Prometheus histogram over its label sets', () => {
    const text = [
      '# TYPE rnas_inference_batch_size histogram',
      'rnas_inference_batch_size_bucket{model="m",version="1",le="1"} 2',
      'rnas_inference_batch_size_sum{model="m",version="1"} 60',
      'rnas_inference_batch_size_count{model="m",version="1"} 2',
      'rnas_inference_batch_size_sum{model="m",version="2"} 40',
      'rnas_inference_batch_size_count{model="m",version="2"} 3',
      'rnas_inference_batch_size_other_sum 1000',
      'other_count 7',
    ].join('\n');
    expect(histogramMean(text, 'rnas_inference_batch_size')).toBe(20);
    expect(histogramMean(text, 'rnas_inference_queue_duration_seconds')).toBeUndefined();
    expect(histogramMean('', 'x')).toBeUndefined();
  });
});

describe('scrapeMetrics', () => {
  let server: Server;
  let base: string;
  beforeAll(async () => {
    server = createServer((request, response) => {
      if (request.url === '/metrics') response.end('rnas_up 1\n');
      else if (request.url === '/huge') {
        // 17 MiB in 1 MiB chunks: more than a scrape reads.
        const chunk = '#'.repeat(1024 * 1024);
        let sent = 0;
        const more = (): void => {
          while (sent < 17 && response.write(chunk)) sent++;
          if (sent < 17) response.once('drain', more);
          else response.end();
        };
        response.on('error', () => undefined);
        more();
      } else if (request.url === '/silent') {
        // Never answers; the client's timeout ends it.
      } else {
        response.statusCode = 404;
        response.end('not here');
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('reads the exposition text', async () => {
    expect(await scrapeMetrics(`${base}/metrics`)).toBe('rnas_up 1\n');
  });

  it('refuses a status other than 200, an endpoint that says nothing, and an oversized body', async () => {
    await expect(scrapeMetrics(`${base}/other`)).rejects.toThrow(`${base}/other: HTTP 404`);
    await expect(scrapeMetrics(`${base}/silent`, 200)).rejects.toThrow(
      `${base}/silent: no answer within 0 s`,
    );
    await expect(scrapeMetrics(`${base}/huge`)).rejects.toThrow(`${base}/huge: more than 16777216 bytes`);
  });

  it('reports an address where nothing listens', async () => {
    await expect(scrapeMetrics('http://127.0.0.1:1/metrics')).rejects.toThrow(/ECONNREFUSED/);
  });
});
