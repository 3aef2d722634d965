// Reading a service's Prometheus endpoint: one scrape of the text exposition format, and the
// arithmetic the demo and the benchmarks read from it.
import { get as httpGet } from 'node:http';

/** The most a scrape reads; a service's whole exposition is a few hundred KiB. */
const MAX_SCRAPE_BYTES = 16 * 1024 * 1024;

/** The text of one scrape of `url`; rejects on no answer within `timeoutMs`, a status other than 200, or an oversized body. */
export function scrapeMetrics(url: string, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const request = httpGet(url, (response) => {
      if (response.statusCode !== 200) {
        response.resume();
        reject(new Error(`${url}: HTTP ${response.statusCode}`));
        return;
      }
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        text += chunk;
        if (text.length > MAX_SCRAPE_BYTES)
          request.destroy(new Error(`${url}: more than ${MAX_SCRAPE_BYTES} bytes`));
      });
      response.on('end', () => resolve(text));
      response.on('error', reject);
    });
    request.on('error', reject);
    request.setTimeout(timeoutMs, () =>
      request.destroy(new Error(`${url}: no answer within ${Math.round(timeoutMs / 1000)} s`)),
    );
  });
}

/**
 * The mean of a Prometheus histogram over all its label sets (`<name>_sum` / `<name>_count` in the
 * text exposition format); undefined when it has no observations.
 */
export function histogramMean(text: string, name: string): number | undefined {
  let sum = 0;
  let count = 0;
  for (const line of text.split('\n')) {
    const match = /^(\w+?)(_sum|_count)(?:\{[^}]*\})? ([^ ]+)/.exec(line);
    if (match === null || match[1] !== name) continue;
    const value = Number(match[3]);
    if (!Number.isFinite(value)) continue;
    if (match[2] === '_sum') sum += value;
    else count += value;
  }
  return count > 0 ? sum / count : undefined;
}

/** The value of one series in the text format, e.g. `process_cpu_seconds_total` or `x_count{model="m"}`; 0 when absent. */
export function sampleValue(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

/** One scrape of the metrics endpoint on `port` of this host. */
export function scrapeLocalMetrics(port: number, timeoutMs?: number): Promise<string> {
  return scrapeMetrics(`http://127.0.0.1:${port}/metrics`, timeoutMs);
}
