import { cancelledByDeadline, DEADLINE_SLACK_MS } from './handlers';

describe('cancelledByDeadline', () => {
  it('counts a cancellation in the last quarter of the call’s time as its deadline', () => {
    // A call opened at 0 with a 1000 ms deadline.
    expect(cancelledByDeadline(1000, 0, 1000)).toBe(true);
    expect(cancelledByDeadline(1000, 0, 760)).toBe(true);
    expect(cancelledByDeadline(1000, 0, 740)).toBe(false);
    expect(cancelledByDeadline(1000, 0, 10)).toBe(false);
  });

  it('gives short calls at least the fixed slack, and calls without a deadline none', () => {
    expect(cancelledByDeadline(40, 0, 40 - DEADLINE_SLACK_MS)).toBe(true);
    expect(cancelledByDeadline(40, 0, 40 - DEADLINE_SLACK_MS - 1)).toBe(false);
    expect(cancelledByDeadline(Infinity, 0, 1e12)).toBe(false);
  });
});
