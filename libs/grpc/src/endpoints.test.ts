import { createServer } from 'node:net';
import { defaultAddress, freePorts, SERVICE_ENDPOINTS } from './endpoints';

describe('the endpoint table', () => {
  it('gives every service its own ports and variable, and a localhost default address', () => {
    const all = Object.values(SERVICE_ENDPOINTS);
    const ports = all.flatMap((e) => [e.port, e.metricsPort]);
    expect(new Set(ports).size).toBe(ports.length);
    expect(new Set(all.map((e) => e.addressEnv)).size).toBe(all.length);
    expect(defaultAddress('search')).toBe('localhost:50051');
    expect(defaultAddress('training')).toBe('localhost:50052');
    expect(defaultAddress('inference')).toBe('localhost:50053');
  });
});

describe('freePorts', () => {
  it('gives distinct ports that can be bound', async () => {
    const ports = await freePorts(6);
    expect(new Set(ports).size).toBe(6);
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(ports[0], '127.0.0.1', () => resolve());
    });
    await new Promise((resolve) => server.close(resolve));
    expect(await freePorts(0)).toEqual([]);
  });

  it.each([-1, 1.5, 1025, NaN])('refuses a count of %s', async (count) => {
    await expect(freePorts(count)).rejects.toThrow('freePorts: expected a count in 0..1024');
  });

  it('reports a host it cannot bind', async () => {
    await expect(freePorts(1, '203.0.113.1')).rejects.toThrow(/EADDRNOTAVAIL/);
  });
});
