// The rollout controls `pause`, `resume`, `promote`, `abort`, `retry` and `undo`: one option table each,
// one handler for all (each is one API call on the app, `retry` and `undo` start a rollout to follow).
import type { RolloutView } from '../../orchestrator/createOrchestrator';
import { type OptionTable, defineCommand, duration } from '../args';
import { CLIENT_OPTIONS, WAIT_OPTIONS, clientOf, describeView, started, withApi } from '../client';
import { readStrategyFile } from '../inputs';
import type { CommandModule } from './index';

/** The rollout controls that share this module. */
export type ControlName = 'pause' | 'resume' | 'promote' | 'abort' | 'retry' | 'undo';

const CONTROLS = {
  pause: { summary: 'hold a rollout before its next batch', options: {} },
  resume: { summary: 'continue a held or paused rollout', options: {} },
  promote: {
    summary: 'skip the current pause (--full: every remaining step and analysis)',
    options: { full: { type: 'boolean', help: 'skip every remaining pause and analysis' } },
  },
  abort: {
    summary: 'abort a rollout and roll back to stable',
    options: { reason: { type: 'string', value: 'TEXT', help: 'why (kept in history)' } },
  },
  retry: {
    summary: "start the app's last rollout again",
    options: { strategy: { type: 'string', value: 'FILE', help: 'another strategy file' }, ...WAIT_OPTIONS },
  },
  undo: {
    summary: 'go back to stable (or --to VERSION) at once',
    options: {
      to: { type: 'string', value: 'VERSION', help: 'a version from history instead of stable' },
      ...WAIT_OPTIONS,
    },
  },
} as const satisfies Record<ControlName, { summary: string; options: OptionTable }>;

/** `cutover pause|resume|promote|abort|retry|undo APP`. */
export function control(name: ControlName): CommandModule {
  const options = { ...CONTROLS[name].options, ...CLIENT_OPTIONS } as const;
  const spec = { name, summary: CONTROLS[name].summary, args: 'APP', min: 1, max: 1, options };
  return defineCommand(spec, async ({ values, positionals }) => {
    const v = values as Record<string, string | boolean | undefined>;
    const settings = clientOf(values);
    const app = positionals[0] as string;
    const timeoutMs = duration(typeof v.timeout === 'string' ? v.timeout : undefined, 'timeout');
    const follow = { json: settings.json, wait: v.wait === true || timeoutMs !== undefined, timeoutMs };
    const strategy = await readStrategyFile(typeof v.strategy === 'string' ? v.strategy : undefined);
    return withApi(settings, async (api) => {
      const print = (view: RolloutView) => {
        process.stdout.write(settings.json ? `${JSON.stringify(view, null, 2)}\n` : `${describeView(view)}\n`);
        return 0;
      };
      switch (name) {
        case 'pause':
          return print(await api.pause(app));
        case 'resume':
          return print(await api.resume(app));
        case 'promote':
          return print(await api.promote(app, { full: v.full === true }));
        case 'abort':
          return print(await api.abort(app, typeof v.reason === 'string' ? v.reason : undefined));
        case 'retry':
          return started(api, await api.retry(app, strategy === undefined ? {} : { strategy }), follow);
        case 'undo':
          return started(api, await api.undo(app, typeof v.to === 'string' ? v.to : undefined), follow);
      }
    });
  });
}

export const pause = control('pause');
export const resume = control('resume');
export const promote = control('promote');
export const abort = control('abort');
export const retry = control('retry');
export const undo = control('undo');
