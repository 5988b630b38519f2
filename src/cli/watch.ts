// Following a rollout from the CLI (`deploy --wait`, `get --watch`, `undo --wait`): on a terminal the app's
// table redrawn in place as it changes; piped or under `--json` plain lines, one per change, and the final
// table. Ends with the rollout's exit code (0 completed, 1 otherwise), 1 when `--timeout` passes (the rollout
// goes on), 130 on Ctrl-C with the terminal left whole (the last full frame, colors reset).
import type { ApiClient } from '../orchestrator/api/createApiClient';
import type { AppStatus, RolloutView } from '../orchestrator/createOrchestrator';
import type { RolloutOutput } from '../protocol/rollout';
import { EXIT } from './args';
import type { ProgressOutput } from './demo/progress';
import { statusLines } from './statusTable';

/** Options of {@link followRollout}. */
export interface FollowOptions {
  /** Progress to stderr, the rollout's output as JSON on stdout. */
  json: boolean;
  /** Give up waiting after this long (exit 1). */
  timeoutMs?: number;
  /** How often the table is refreshed on a terminal (default 1,000 ms). */
  refreshMs?: number;
}

/** An SGR escape sequence (colors), at the start of a string and anywhere. */
const SGR_AT_START = new RegExp(`^${'\u001b'}\\[[0-9;]*m`);
const SGR = new RegExp(`${'\u001b'}\\[[0-9;]*m`, 'g');

const visible = (s: string) => s.replace(SGR, '');

/** A line cut to the terminal width (escape sequences kept), so a redraw never wraps. */
function fitWidth(line: string, columns: number): string {
  if (visible(line).length < columns) return line;
  let out = '';
  let width = 0;
  for (let i = 0; i < line.length && width < columns - 2; i++) {
    const esc = SGR_AT_START.exec(line.slice(i));
    if (esc) {
      out += esc[0];
      i += esc[0].length - 1;
      continue;
    }
    out += line[i];
    width++;
  }
  return `${out}\x1b[0m…`;
}

/** A block of lines redrawn in place on a terminal. */
function liveBlock(out: ProgressOutput) {
  let drawn = 0;
  return {
    draw(lines: string[]) {
      const columns = out.columns || 80;
      const text = lines.map((l) => fitWidth(l, columns));
      out.write(`${drawn > 0 ? `\x1b[${drawn}F\x1b[J` : ''}${text.join('\n')}\n`);
      drawn = text.length;
    },
  };
}

/**
 * Follows rollout `rolloutId` of `app` until it is final, the timeout passes or Ctrl-C; returns the exit code.
 */
export async function followRollout(
  api: ApiClient,
  app: string,
  rolloutId: string,
  options: FollowOptions,
): Promise<number> {
  const out: ProgressOutput = options.json ? process.stderr : process.stdout;
  const live = out.isTTY === true && !options.json;
  const color = live && process.env.NO_COLOR === undefined;
  const block = live ? liveBlock(out) : undefined;
  let status: AppStatus | undefined;
  let note = '';
  const stamp = () => new Date().toISOString().slice(11, 19);
  const redraw = () => {
    if (block === undefined || status === undefined) return;
    block.draw([...statusLines(status, color), ...(note ? [note] : [])]);
  };
  const refresh = async () => {
    try {
      status = await api.status(app);
      redraw();
    } catch {
      // The watch reports outages; the next refresh tries again.
    }
  };

  const watch = api.watch(
    rolloutId,
    (view: RolloutView) => {
      if (live) void refresh();
      else out.write(`${stamp()} ${describe(view)}\n`);
    },
    {
      onUnreachable: (e) => {
        const line =
          e === null ? 'orchestrator answers again' : `waiting for the orchestrator: ${e.message} (${e.code})`;
        if (live) {
          note = e === null ? '' : line;
          redraw();
        } else out.write(`${stamp()} ${line}\n`);
      },
    },
  );
  const timer = live ? setInterval(() => void refresh(), options.refreshMs ?? 1_000) : undefined;
  if (live) await refresh();

  type End = { kind: 'done'; output: RolloutOutput } | { kind: 'timeout' } | { kind: 'interrupted' };
  let onSigint: (() => void) | undefined;
  let timeout: ReturnType<typeof setTimeout> | undefined;
  const ends: Array<Promise<End>> = [
    watch.done.then((output) => ({ kind: 'done', output }) as const),
    new Promise<End>((resolve) => {
      onSigint = () => resolve({ kind: 'interrupted' });
      process.once('SIGINT', onSigint);
    }),
  ];
  if (options.timeoutMs !== undefined) {
    const ms = options.timeoutMs;
    ends.push(new Promise<End>((resolve) => (timeout = setTimeout(() => resolve({ kind: 'timeout' }), ms))));
  }
  const end = await Promise.race(ends);
  watch.stop();
  clearInterval(timer);
  clearTimeout(timeout);
  if (onSigint) process.off('SIGINT', onSigint);

  if (end.kind === 'interrupted') {
    // The last whole frame stays; nothing half-drawn, colors reset.
    if (live) out.write('\x1b[0m');
    process.stderr.write(
      `\ncutover: interrupted; rollout ${rolloutId} goes on (follow it again with: cutover get ${app} --watch)\n`,
    );
    return EXIT.interrupted;
  }
  if (end.kind === 'timeout') {
    process.stderr.write(
      `cutover: gave up waiting for rollout ${rolloutId} after ${Math.round((options.timeoutMs ?? 0) / 1000)}s; it goes on (cutover get ${app} --watch)\n`,
    );
    return EXIT.failed;
  }
  const output = end.output;
  await refresh();
  if (!live && status !== undefined && !options.json) out.write(`${statusLines(status, false).join('\n')}\n`);
  if (options.json) process.stdout.write(`${JSON.stringify(output, null, 2)}\n`);
  else
    process.stdout.write(
      `rollout ${output.rolloutId} ${output.outcome}${output.reason && output.reason !== output.outcome ? `: ${output.reason}` : ''}\n`,
    );
  return output.outcome === 'completed' ? EXIT.ok : EXIT.failed;
}

function describe(v: RolloutView): string {
  const parts = [`rollout ${v.id} ${v.app} ${v.targetVersion}: ${v.state}`];
  if (v.batches > 0) parts.push(`batch ${Math.min(v.batch + 1, v.batches)}/${v.batches}`);
  if (v.step) parts.push(`step ${Math.min(v.step.index + 1, v.step.total || 1)}/${v.step.total} ${v.step.kind}`);
  if (v.paused || v.pause !== null) parts.push(`paused${v.pause ? ` (${v.pause.kind})` : ''}`);
  const holding = v.conditions.filter((c) => c.status);
  if (holding.length > 0) parts.push(`[${holding.map((c) => c.type).join(', ')}]`);
  return parts.join(' ');
}
