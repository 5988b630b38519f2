import type { RolloutView } from '../../orchestrator/createOrchestrator';
import { parseFlags } from '../natsConnect';
import type { CommandModule } from './index';
import { CLIENT_FLAGS, clientFlags, describeView, readStrategy, started, withApi } from './deploy';

/** The rollout controls that share this module. */
export type ControlName = 'pause' | 'resume' | 'promote' | 'abort' | 'retry' | 'undo';

const EXTRA: Record<ControlName, string> = {
  pause: '',
  resume: '',
  promote: ' [--full]',
  abort: ' [--reason TEXT]',
  retry: ' [--strategy FILE] [--wait]',
  undo: ' [--to VERSION] [--wait]',
};

/** `cutover pause|resume|promote|abort|retry|undo APP`. */
export function control(name: ControlName): CommandModule {
  const usage = `usage: cutover ${name} APP${EXTRA[name]} [--json] --nats URL --lattice L\n`;
  return {
    async run(args) {
      const flags = parseFlags(
        name,
        args,
        {
          ...CLIENT_FLAGS,
          full: { type: 'boolean' },
          reason: { type: 'string' },
          strategy: { type: 'string' },
          to: { type: 'string' },
          wait: { type: 'boolean' },
        },
        usage,
        ({ values, positionals }) => {
          const [app, ...extra] = positionals;
          if (app === undefined) throw new TypeError('missing APP');
          if (extra.length > 0) throw new TypeError(`unexpected argument "${extra[0]}"`);
          const allowed = new Set(EXTRA[name].match(/--[a-z]+/g) ?? []);
          for (const flag of ['full', 'reason', 'strategy', 'to', 'wait']) {
            if (values[flag as keyof typeof values] !== undefined && !allowed.has(`--${flag}`))
              throw new TypeError(`--${flag} does not apply to ${name}`);
          }
          return {
            ...clientFlags(values),
            app,
            full: values.full === true,
            reason: values.reason,
            strategyFile: values.strategy,
            to: values.to,
            wait: values.wait === true,
          };
        },
      );
      if (flags === undefined) return 2;
      const strategy = await readStrategy(flags.strategyFile);
      return withApi(flags, async (api) => {
        const print = (view: RolloutView) => {
          process.stdout.write(flags.json ? `${JSON.stringify(view, null, 2)}\n` : `${describeView(view)}\n`);
          return 0;
        };
        switch (name) {
          case 'pause':
            return print(await api.pause(flags.app));
          case 'resume':
            return print(await api.resume(flags.app));
          case 'promote':
            return print(await api.promote(flags.app, { full: flags.full }));
          case 'abort':
            return print(await api.abort(flags.app, flags.reason));
          case 'retry':
            return started(api, await api.retry(flags.app, strategy === undefined ? {} : { strategy }), flags);
          case 'undo':
            return started(api, await api.undo(flags.app, flags.to), flags);
        }
      });
    },
  };
}

export const pause = control('pause');
export const resume = control('resume');
export const promote = control('promote');
export const abort = control('abort');
export const retry = control('retry');
export const undo = control('undo');
