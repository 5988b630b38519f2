/** A CLI command module: `run` gets the arguments after the command name and returns an exit code. */
export interface CommandModule {
  run(args: string[]): Promise<number>;
}

export interface CommandEntry {
  summary: string;
  load(): Promise<CommandModule>;
}

// One line per command; each area adds its own entry.
export const commands: Record<string, CommandEntry> = {
  validate: { summary: 'check a wadm manifest and print its revision', load: () => import('./validate') },
  host: { summary: 'run a host agent on NATS (wasm runtime, built-in providers)', load: () => import('./host') },
  orchestrator: { summary: 'run the orchestrator on NATS and serve its API', load: () => import('./orchestrator') },
  deploy: { summary: 'start a rollout of a wadm manifest (--wait to follow it)', load: () => import('./deploy') },
  status: { summary: "show an app's phase, rollout and hosts", load: () => import('./status') },
  history: { summary: "list an app's rollouts, newest first", load: () => import('./history') },
  pause: { summary: 'hold a rollout before its next batch', load: async () => (await import('./control')).pause },
  resume: { summary: 'continue a held rollout', load: async () => (await import('./control')).resume },
  promote: { summary: 'skip pauses (--full: and analysis)', load: async () => (await import('./control')).promote },
  abort: { summary: 'abort a rollout and roll back to stable', load: async () => (await import('./control')).abort },
  retry: { summary: "start the app's last rollout again", load: async () => (await import('./control')).retry },
  undo: { summary: 'go back to stable (or --to VERSION)', load: async () => (await import('./control')).undo },
  demo: { summary: 'roll real wasm v1 → v2 → v3 across in-memory hosts under load', load: () => import('./demo') },
  paths: { summary: 'select covering test paths of a machine and print their coverage', load: () => import('./paths') },
  plan: { summary: 'print a rollout plan (steps, hosts, guardrails); touches nothing', load: () => import('./plan') },
  auth: { summary: 'render the nats-server authorization and per-role credentials', load: () => import('./auth') },
  diagram: { summary: 'print a machine as a Mermaid or DOT diagram', load: () => import('./diagram') },
};
