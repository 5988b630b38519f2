import type { LoadTotals } from './loadGenerator';
import type { DemoVersion } from './manifest';
import type { DemoObserver, HostRow } from './runDemo';

/** Where progress goes: a stream, and whether it is a terminal we may redraw. */
export interface ProgressOutput {
  write(text: string): unknown;
  isTTY?: boolean;
  /** Terminal width; redrawn lines are kept shorter so they never wrap (which would break the redraw). */
  columns?: number;
}

export interface Progress extends DemoObserver {
  /** Stops redrawing and leaves the last frame on screen. */
  stop(): void;
}

const useColor = (out: ProgressOutput) => out.isTTY === true && process.env.NO_COLOR === undefined;

/** ANSI color helpers that turn into no-ops off a terminal. */
export function palette(enabled: boolean) {
  const wrap = (code: string) => (s: string) => (enabled ? `\x1b[${code}m${s}\x1b[0m` : s);
  return { bold: wrap('1'), dim: wrap('2'), green: wrap('32'), yellow: wrap('33'), red: wrap('31'), cyan: wrap('36') };
}

function rolloutLabel(label: { from: DemoVersion | null; to: DemoVersion }): string {
  return label.from === null ? `install ${label.to}` : `rollout ${label.from} → ${label.to}`;
}

function loadLine(t: LoadTotals): string {
  const by = `v1 ${t.servedBy.v1} v2 ${t.servedBy.v2} v3 ${t.servedBy.v3}`;
  return `load  sent ${t.sent}  served ${t.served}  failed ${t.failed}  waiting ${t.inFlight}  (${by})`;
}

/**
 * The live progress of the demo: on a terminal, one block (rollout, a line per host, load) redrawn in
 * place with notes scrolling above it; elsewhere (CI, pipes) plain timestamped lines, one per change.
 */
export function createProgress(out: ProgressOutput): Progress {
  return out.isTTY === true ? liveProgress(out) : plainProgress(out);
}

function plainProgress(out: ProgressOutput): Progress {
  const started = performance.now();
  const stamp = () => `[${((performance.now() - started) / 1000).toFixed(2).padStart(6)}s]`;
  const hostState = new Map<string, string>();
  const hostVersion = new Map<string, string>();
  let lastRollout = '';
  let load: LoadTotals | undefined;
  return {
    note: (text) => out.write(`${stamp()} ${text}\n`),
    rollout(label, view) {
      const batch = view.batches > 0 ? ` (batch ${Math.min(view.batch + 1, view.batches)}/${view.batches})` : '';
      const reason = view.outcome === 'completed' || view.reason === null ? '' : ` (${view.reason})`;
      const line = view.done
        ? `${rolloutLabel(label)}: ${view.outcome}${reason}`
        : `${rolloutLabel(label)}: ${view.state}${batch}`;
      if (line === lastRollout) return;
      lastRollout = line;
      out.write(`${stamp()} ${line}\n`);
      if (view.done && load !== undefined && label.from !== null) out.write(`${stamp()} ${loadLine(load)}\n`);
    },
    host(row: HostRow) {
      // Plain logs stay short: a line when a host starts serving another version, or goes bad.
      const was = hostVersion.get(row.id);
      if (row.version !== null && row.version !== was) {
        hostVersion.set(row.id, row.version);
        const from = was === undefined ? '' : ` (was ${was}${row.batch === null ? '' : `, batch ${row.batch}`})`;
        out.write(`${stamp()}   ${row.id} serves ${row.version}${from}\n`);
      }
      if ((row.state === 'failed' || row.state === 'unhealthy') && hostState.get(row.id) !== row.state) {
        out.write(`${stamp()}   ${row.id} is ${row.state}\n`);
      }
      hostState.set(row.id, row.state);
    },
    load(t) {
      load = t;
    },
    stop() {},
  };
}

function liveProgress(out: ProgressOutput): Progress {
  const c = palette(useColor(out));
  const hosts = new Map<string, HostRow>();
  let rollout = '';
  const reported = new Set<string>();
  const trails = new Map<string, string[]>();
  let load: LoadTotals | undefined;
  let drawn = 0;
  let dirty = false;
  let stopped = false;

  const stateColor = (state: string, width: number) => {
    const padded = state.padEnd(width);
    return state === 'running'
      ? c.green(padded)
      : state === 'failed' || state === 'unhealthy'
        ? c.red(padded)
        : c.yellow(padded);
  };
  const frame = (): string[] => {
    const lines = [rollout === '' ? c.dim('preparing the lattice…') : rollout];
    for (const row of hosts.values()) {
      const version =
        row.version === null ? c.dim('--') : row.version === 'v3' ? c.cyan(row.version) : c.bold(row.version);
      const batch = row.batch === null ? '' : c.dim(`batch ${row.batch}`.padEnd(9));
      const trail = c.dim((trails.get(row.id) ?? []).join('→'));
      lines.push(`  ${row.id.padEnd(8)} ${version}  ${stateColor(row.state, 24)} ${batch} ${trail}`);
    }
    if (load !== undefined) lines.push(c.dim(loadLine(load).slice(0, Math.max(20, (out.columns || 80) - 1))));
    return lines;
  };
  const clear = () => {
    if (drawn > 0) out.write(`\x1b[${drawn}F\x1b[J`);
    drawn = 0;
  };
  const draw = () => {
    dirty = false;
    if (stopped) return;
    clear();
    const lines = frame();
    out.write(`${lines.join('\n')}\n`);
    drawn = lines.length;
  };
  const timer = setInterval(() => {
    if (dirty) draw();
  }, 50);
  timer.unref();

  return {
    note(text) {
      clear();
      out.write(`${c.bold('›')} ${text}\n`);
      draw();
    },
    rollout(label, view) {
      const batch = view.batches > 0 ? `  batch ${Math.min(view.batch + 1, view.batches)}/${view.batches}` : '';
      const state =
        view.outcome === null
          ? view.state
          : view.outcome === 'completed'
            ? c.green(view.outcome)
            : c.yellow(view.outcome);
      rollout = `${c.bold(rolloutLabel(label))}  ${state}${batch}`;
      const key = rolloutLabel(label);
      if (view.done && view.outcome !== null && !reported.has(key)) {
        reported.add(key);
        clear();
        const reason = view.outcome === 'completed' || view.reason === null ? '' : c.dim(` (${view.reason})`);
        out.write(`${c.bold('›')} ${rolloutLabel(label)}: ${view.outcome}${reason}\n`);
      }
      dirty = true;
    },
    host(row) {
      hosts.set(row.id, row);
      // Every version a host served, in order: a host that ran v3 and came back shows v2→v3→v2.
      const trail = trails.get(row.id) ?? [];
      if (row.version !== null && trail[trail.length - 1] !== row.version) trails.set(row.id, [...trail, row.version]);
      dirty = true;
    },
    load(t) {
      load = t;
      dirty = true;
    },
    stop() {
      if (stopped) return;
      draw();
      stopped = true;
      clearInterval(timer);
    },
  };
}
