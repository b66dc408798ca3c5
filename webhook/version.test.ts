import { describe, expect, it } from 'vitest';
import { supportsNativeSidecars } from './version.js';

describe('supportsNativeSidecars', () => {
  it.each([
    ['1', '28', false],
    ['1', '29', true],
    ['1', '29+', true],
    ['1', '34', true],
    ['2', '0', true],
    ['1', '', false],
    ['', '', false],
  ])('major %s minor %s → %s', (major, minor, expected) => {
    expect(supportsNativeSidecars(major, minor)).toBe(expected);
  });
});
