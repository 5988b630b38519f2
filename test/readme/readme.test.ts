// Every code block of README.md is run or checked here or in quickstart.test.ts: TypeScript examples as
// their own process with tsx against the built package (from a fresh project outside the repository, as a
// user's would be), the set-up command as a person types it, strategies parsed by the schema.
import { copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Strategy } from 'cutover';
import { beforeAll, describe, expect, it } from 'vitest';
import { startRegistry } from '../helpers/registry';
import { BUILD_TIMEOUT_MS, ROOT, ensureBuilt, run, userProject } from './builtPackage';
import { type ReadmeBlock, exampleRegion, readme, readmeBlocks, shellCommands } from './readmeBlocks';

const EXAMPLES = {
  Embedding: join(ROOT, 'test/readme/embedding.example.ts'),
  'Your own host: the component machine alone': join(ROOT, 'test/readme/componentMachine.example.ts'),
} as const;
const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');

const METRICS_SECTION = 'Metrics, notifications and PromQL analysis';

/** Which test runs or checks a block; a new block without one fails `has a test for every code block`. */
function coveredBy(block: ReadmeBlock): string | undefined {
  if (block.lang === 'ts' && block.section in EXAMPLES) return 'runs the TypeScript examples';
  // A vitest test as a user writes one: testKit.example.test.ts is that file, run by vitest.
  if (block.lang === 'ts' && block.section === 'Testing your scheduler') return 'testKit.example.test.ts';
  if (block.lang === 'json' && block.section === 'Strategies and plans') return 'shows only strategies that parse';
  if (block.lang === 'json' && block.section === METRICS_SECTION) return 'shows a Prometheus analysis that parses';
  if (block.lang === 'sh' && block.section === 'Set up') return 'set-up commands';
  if (block.lang === 'sh' && block.section === 'Across machines: NATS') return 'quickstart.test.ts / push.mjs';
  if (block.lang === 'sh' && block.section === 'Watching it: diagrams and the Stately inspector') return 'inspector';
  // Generated diagrams, checked against the machines by test/inspect; the demo's output is an illustration.
  if (block.lang === 'mermaid') return 'diagram tests';
  if (block.lang === '' && block.section === 'Demo output') return 'demo output (illustration)';
  // Output of `cutover get` from a real quickstart run: quickstart.test.ts checks the lines that do not vary.
  if (block.lang === '' && block.section === 'Across machines: NATS') return 'quickstart.test.ts (get output)';
  return undefined;
}

describe('README', () => {
  it('has a test for every code block', () => {
    const uncovered = readmeBlocks()
      .filter((b) => coveredBy(b) === undefined)
      .map((b) => `\`\`\`${b.lang} under "${b.section}"`);
    expect(uncovered).toEqual([]);
  });

  it('shows each TypeScript example exactly as the file the suite runs', () => {
    const blocks = readmeBlocks().filter((b) => b.lang === 'ts' && b.section in EXAMPLES);
    expect(blocks.map((b) => b.section)).toEqual(Object.keys(EXAMPLES));
    for (const block of blocks)
      expect(block.code).toBe(exampleRegion(EXAMPLES[block.section as keyof typeof EXAMPLES]));
  });

  it('shows only strategies that parse, one of each type', () => {
    const section = readme().split('## Strategies and plans')[1]?.split('\n## ')[0] ?? '';
    const blocks = [...section.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');
    const types = blocks.map((b) => Strategy.parse(JSON.parse(b)).type);
    expect(types).toEqual(['rolling', 'canary', 'blueGreen']);
  });

  it('shows a Prometheus analysis that parses as a canary strategy', () => {
    const blocks = readmeBlocks().filter((b) => b.lang === 'json' && b.section === METRICS_SECTION);
    expect(blocks).toHaveLength(1);
    const strategy = Strategy.parse(JSON.parse(blocks[0]?.code ?? ''));
    const analyses =
      strategy.type === 'canary' ? strategy.steps.flatMap((s) => ('analysis' in s ? [s.analysis] : [])) : [];
    expect(analyses.map((a) => a.provider)).toEqual(['prometheus']);
  });

  it('gives the two set-up commands: the in-memory demo and the test suite', () => {
    const blocks = readmeBlocks().filter((b) => b.section === 'Set up');
    expect(blocks.map((b) => shellCommands(b.code).map((c) => c.command))).toEqual([
      ['npm ci && npx cutover demo'],
      ['npm test'],
    ]);
  });

  describe('run as their own processes against the built package', () => {
    beforeAll(ensureBuilt, BUILD_TIMEOUT_MS);

    it('the embedding example rolls the host from v1 to v2, prints every state, and exits 0 by itself', async () => {
      const project = await userProject();
      copyFileSync(EXAMPLES.Embedding, join(project, 'rollout.ts'));
      const result = await run(TSX, ['rollout.ts'], project, 60_000);
      expect(result.code, result.output).toBe(0);
      const lines = result.stdout.trimEnd().split('\n');
      expect(lines).toContain('progressing.applying');
      expect(lines).toContain('completed');
      expect(result.stdout).toContain("outcome: 'completed'");
      expect(lines.at(-1)).toBe('v2 hi');
    });

    it('the component machine example applies a spec through the supplied effects and prints it serving', async () => {
      const project = await userProject(['xstate']);
      copyFileSync(EXAMPLES['Your own host: the component machine alone'], join(project, 'host.ts'));
      const result = await run(TSX, ['host.ts'], project, 60_000);
      expect(result.code, result.output).toBe(0);
      expect(result.stdout).toMatch(
        /^fetching file:\/\/\/srv\/api-v1\.wasm\nserving [0-9a-f]{64} file:\/\/\/srv\/api-v1\.wasm\n$/,
      );
    });

    it('the set-up command `npx cutover demo` rolls v1 → v2, rolls v3 back, loses nothing and exits 0', async () => {
      const [setUp] = shellCommands(readmeBlocks().find((b) => b.section === 'Set up')?.code ?? '');
      // `npm ci` is what `bash .ci/run` does first; the demo part runs as typed.
      const demo = setUp?.command.split(' && ')[1] ?? '';
      expect(demo).toBe('npx cutover demo');
      const result = await run('bash', ['-c', demo], ROOT, 120_000);
      expect(result.code, result.output).toBe(0);
      expect(result.stdout).toMatch(/rollout v1 → v2: completed/);
      expect(result.stdout).toMatch(/rollout v2 → v3: rolledBack/);
      expect(result.stdout).toMatch(/zero lost/);
    }, 150_000);

    it('push.mjs puts the example wasm into a real docker-registry, where the host runtime fetches it', async () => {
      const block = readmeBlocks().filter((b) => b.section === 'Across machines: NATS' && b.lang === 'sh')[1];
      const [pushCommand] = shellCommands(block?.code ?? '');
      expect(pushCommand?.command).toBe('node examples/hello/push.mjs localhost:5000/hello:v1 examples/hello/v1.wasm');
      await using registry = await startRegistry();
      const result = await run(
        'bash',
        ['-c', (pushCommand?.command ?? '').replace('localhost:5000', registry.host)],
        ROOT,
        60_000,
      );
      expect(result.code, result.output).toBe(0);
      expect(result.stdout).toMatch(new RegExp(`^pushed ${registry.host}/hello:v1@sha256:[0-9a-f]{64}\\n$`));
      const { createWasmRuntime } = await import('cutover/adapters/wasm');
      const artifact = await createWasmRuntime().fetch(`${registry.host}/hello:v1`);
      expect(artifact.bytes).toEqual(new Uint8Array(readFileSync(join(ROOT, 'examples/hello/v1.wasm'))));
    });
  });
});
