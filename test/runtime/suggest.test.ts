// The hint and the list of names that messages about a wrong name carry (runtime/suggest.ts),
// shared by the graph's selectors and the CLI's task arguments.
import { describe, expect, it } from 'vitest';
import { nameList, suggest } from '../../runtime/suggest.js';

describe('a message naming a wrong name', () => {
  it('suggests the closest candidate within two edits, and nothing further off', () => {
    expect(suggest('totl', ['helper', 'total'])).toBe(", did you mean 'total'?");
    expect(suggest('xyz', ['helper', 'total'])).toBe('');
  });

  it('lists up to 20 candidates whole; past that, the first 20 and how many more', () => {
    const names = (n: number) => Array.from({ length: n }, (_, i) => `t${i}`);
    expect(nameList(names(20))).toBe(names(20).join(', '));
    expect(nameList(names(100_000))).toBe(`${names(20).join(', ')}, and 99980 more`);
    expect(nameList([])).toBe('');
  });
});
