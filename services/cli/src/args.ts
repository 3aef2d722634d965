import { InvalidArgumentError } from 'commander';

/** Commander parser for a flag holding a positive integer (at most 2^31 − 1). */
export function positiveInt(value: string): number {
  if (!/^\s*\d{1,10}\s*$/.test(value) || Number(value) < 1 || Number(value) > 0x7fffffff) {
    throw new InvalidArgumentError(`expected a positive integer, got "${value}"`);
  }
  return Number(value);
}

/** Commander parser for an on/off flag value (`on`, `off`, also `true`/`false`). */
export function onOff(value: string): boolean {
  const v = value.trim().toLowerCase();
  if (v === 'on' || v === 'true') return true;
  if (v === 'off' || v === 'false') return false;
  throw new InvalidArgumentError(`expected on or off, got "${value}"`);
}

/** Commander parser for a flag holding a non-negative integer (at most 2^32 − 1). */
export function integer(value: string): number {
  if (!/^\s*\d{1,10}\s*$/.test(value) || Number(value) > 0xffffffff) {
    throw new InvalidArgumentError(`expected a non-negative integer, got "${value}"`);
  }
  return Number(value);
}

/** Commander parser for a flag holding a finite number. */
export function decimal(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n))
    throw new InvalidArgumentError(`expected a number, got "${value}"`);
  return n;
}

/** Commander parser for a `host:port` flag: trimmed, not empty (the address check comes later). */
export function hostPort(value: string): string {
  if (value.trim() === '') throw new InvalidArgumentError('expected host:port');
  return value.trim();
}
