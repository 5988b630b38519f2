// `--log-format pretty|json` of the long-running commands: a small line logger. `pretty` writes the lines
// people read (as before, so scripts that follow them keep working); `json` writes one JSON object a line with
// an ISO timestamp, a level, the process (`app` is the application a line is about), and the rollout and host
// when the line concerns one — what log shippers index.
import { CutoverError } from '../../errors';
import type { NotificationEvent } from '../../observability/notifications';
import type { OptionTable } from '../args';

/** The formats `--log-format` takes. */
export const LOG_FORMATS = ['pretty', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** Levels, lowest first. */
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** `--log-format pretty|json`. */
export const LOG_OPTIONS = {
  'log-format': {
    type: 'string',
    value: 'pretty|json',
    help: 'pretty lines (default) or JSON lines with time, level, app, rollout and host',
    env: 'CUTOVER_LOG_FORMAT',
  },
} as const satisfies OptionTable;

/** Fields a line may carry beside its message. */
export type LogFields = Record<string, string | number | boolean | null | undefined>;

/** Writes lines at levels; `child` adds fields to every line it writes. */
export interface Logger {
  readonly format: LogFormat;
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  child(fields: LogFields): Logger;
}

/** Where lines go: info and debug to `out`, warn and error to `err` (pretty); every JSON line to `out`. */
export interface LogSinks {
  out: { write(text: string): unknown };
  err: { write(text: string): unknown };
}

/** Reads `--log-format`; refuses anything but pretty or json with `config.invalid`. */
export function logFormatOf(value: string | undefined): LogFormat {
  if (value === undefined || value === '') return 'pretty';
  const known = LOG_FORMATS.find((f) => f === value);
  if (known === undefined) {
    throw new CutoverError('config.invalid', `--log-format must be pretty or json, got "${value}"`);
  }
  return known;
}

/**
 * A logger for one process (`component`: `orchestrator`, `host`). `now` gives the timestamp (default wall time).
 * @example
 * const log = createLogger('json', { component: 'host', host: 'h1' });
 * log.info('host ready'); // {"time":"2026-…Z","level":"info","component":"host","host":"h1","msg":"host ready"}
 */
export function createLogger(
  format: LogFormat,
  base: LogFields,
  sinks: LogSinks = { out: process.stdout, err: process.stderr },
  now: () => number = Date.now,
): Logger {
  const line = (level: LogLevel, msg: string, fields: LogFields | undefined) => {
    if (format === 'json') {
      const record: Record<string, unknown> = { time: new Date(now()).toISOString(), level };
      for (const [k, v] of Object.entries({ ...base, ...fields })) if (v !== undefined) record[k] = v;
      record.msg = msg;
      sinks.out.write(`${JSON.stringify(record)}\n`);
      return;
    }
    (level === 'warn' || level === 'error' ? sinks.err : sinks.out).write(`${msg}\n`);
  };
  return {
    format,
    debug: (msg, fields) => line('debug', msg, fields),
    info: (msg, fields) => line('info', msg, fields),
    warn: (msg, fields) => line('warn', msg, fields),
    error: (msg, fields) => line('error', msg, fields),
    child: (fields) => createLogger(format, { ...base, ...fields }, sinks, now),
  };
}

/**
 * A `notify` that logs each rollout notification as one line: in JSON at `info` with `app`, `rollout` and
 * the event's fields (pretty writes nothing, so the command's own lines stay as they were). Outcomes are left
 * out unless `skipOutcomes` is false: the orchestrator command logs every outcome on the lattice already.
 */
export function logNotifications(log: Logger, skipOutcomes = true): (event: NotificationEvent) => void {
  return (event) => {
    if (log.format !== 'json' || (skipOutcomes && event.type === 'rollout.outcome')) return;
    const { type, rolloutId, app, schema: _schema, lattice: _lattice, orchestrator: _o, at: _at, ...rest } = event;
    const fields: LogFields = { event: type, app, rollout: rolloutId };
    for (const [k, v] of Object.entries(rest)) {
      if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') fields[k] = v;
    }
    const text =
      event.type === 'rollout.phase'
        ? `rollout ${rolloutId} ${app}: ${event.from ?? 'start'} → ${event.to}`
        : event.type === 'rollout.outcome'
          ? `rollout ${rolloutId} ${app} ${event.outcome}: ${event.reason}`
          : event.type === 'rollout.analysis'
            ? `rollout ${rolloutId} ${app}: analysis "${event.analysis}" ${event.verdict}`
            : `rollout ${rolloutId} ${app} ${event.type === 'rollout.paused' ? 'paused' : 'resumed'}`;
    const level = event.type === 'rollout.outcome' && event.outcome !== 'completed' ? 'warn' : 'info';
    log[level](text, fields);
  };
}
