import { deserializeError, isSerializedError, serializeError } from './errors';

describe('errors across the thread boundary', () => {
  it('keep name, message and a string code', () => {
    const coded = Object.assign(new RangeError('bad batch'), { code: 'INVALID_ARGUMENT' });
    expect(serializeError(coded)).toEqual({
      name: 'RangeError',
      message: 'bad batch',
      code: 'INVALID_ARGUMENT',
    });
    const back = deserializeError(serializeError(coded));
    expect(back).toBeInstanceOf(Error);
    expect(back).toMatchObject({ name: 'RangeError', message: 'bad batch', code: 'INVALID_ARGUMENT' });
  });

  it('turn anything thrown into an error, and drop codes that are not names', () => {
    expect(serializeError('plain string')).toEqual({ name: 'Error', message: 'plain string' });
    expect(serializeError(undefined)).toEqual({ name: 'Error', message: 'undefined' });
    expect(serializeError(Object.assign(new Error('x'), { code: 5 }))).toEqual({
      name: 'Error',
      message: 'x',
    });
    expect('code' in deserializeError({ name: 'Error', message: '' })).toBe(false);
  });

  it('are recognised only with a string name and message', () => {
    expect(isSerializedError({ name: 'E', message: '' })).toBe(true);
    expect(isSerializedError({ name: 'E', message: 'm', code: 'NOT_FOUND' })).toBe(true);
    for (const bad of [
      null,
      'error',
      7,
      {},
      { name: 'E' },
      { name: 'E', message: 7 },
      { name: 'E', message: 'm', code: 3 },
    ]) {
      expect(isSerializedError(bad)).toBe(false);
    }
  });
});
