import { describe, expect, it, vi } from 'vitest';
import { run } from '../../src/cli/commands/paths';

describe('cutover paths', () => {
  it('prints states, transitions and paths of the component machine as JSON', async () => {
    const out: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      out.push(String(chunk));
      return true;
    });
    try {
      expect(await run(['component', '--json'])).toBe(0);
    } finally {
      spy.mockRestore();
    }
    const parsed = JSON.parse(out.join('')) as {
      machines: Array<{
        id: string;
        states: { covered: number; total: number };
        transitions: { covered: number; total: number };
        paths: number;
      }>;
    };
    const [m] = parsed.machines;
    expect(m?.id).toBe('component');
    expect(m?.states.covered).toBe(m?.states.total);
    expect(m?.transitions.covered).toBe(m?.transitions.total);
    expect(m?.paths).toBeGreaterThan(0);
  });

  it('refuses an unknown machine with exit code 2', async () => {
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect(await run(['nope'])).toBe(2);
    } finally {
      spy.mockRestore();
    }
  });
});
