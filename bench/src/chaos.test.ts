import { chaosTable, parseChaosArgs, seededRandom } from './chaos';

describe('make chaos', () => {
  it('takes its defaults and refuses bad options, naming the flag', () => {
    expect(parseChaosArgs([])).toEqual({
      seed: 1,
      kills: 20,
      searches: 3,
      trainings: 3,
      minDelayMs: 300,
      maxDelayMs: 4000,
      timeoutMin: 15,
      services: ['search', 'training'],
    });
    expect(parseChaosArgs(['--seed', '7', '--kills', '5', '--services', 'training'])).toMatchObject({
      seed: 7,
      kills: 5,
      services: ['training'],
    });
    expect(parseChaosArgs(['--help'])).toBe('help');
    expect(() => parseChaosArgs(['--kills', 'many'])).toThrow('--kills "many": expected an integer >= 0');
    expect(() => parseChaosArgs(['--services', 'inference'])).toThrow('unknown service "inference"');
    expect(() => parseChaosArgs(['--min-delay-ms', '10', '--max-delay-ms', '5'])).toThrow('--max-delay-ms');
  });

  it('draws the same kill moments for the same seed, others for another', () => {
    const draw = (seed: number): number[] => {
      const random = seededRandom(seed);
      return Array.from({ length: 20 }, () => random());
    };
    expect(draw(1)).toEqual(draw(1));
    expect(draw(2)).not.toEqual(draw(1));
    for (const x of draw(3)) expect(x >= 0 && x < 1).toBe(true);
  });

  it('prints one row per service', () => {
    const text = chaosTable([
      {
        service: 'search',
        kills: 20,
        killsWhileRunning: 19,
        jobs: 3,
        lost: 0,
        identical: 3,
        duplicates: 0,
        wallMs: 61234,
      },
    ]);
    expect(text.split('\n')).toEqual([
      '| service | kills | kills while running | jobs | lost | identical | duplicates | wall time |',
      '|---------|-------|---------------------|------|------|-----------|------------|-----------|',
      '| search  | 20    | 19                  | 3    | 0    | 3/3       | 0          | 61.2 s    |',
    ]);
  });
});
