/** A CLI command module: `run` gets the arguments after the command name and returns an exit code. */
export interface CommandModule {
  run(args: string[]): Promise<number>;
}

export interface CommandEntry {
  summary: string;
  load(): Promise<CommandModule>;
}

// One line per command; each area adds its own entry. Each module also exports its `spec` (docs/cli.md).
export const commands: Record<string, CommandEntry> = {
  validate: { summary: 'check a wadm manifest and print its revision', load: () => import('./validate') },
  plan: { summary: 'print a rollout plan (steps, hosts, guardrails); touches nothing', load: () => import('./plan') },
  deploy: { summary: 'start a rollout of a wadm manifest (--wait to follow it)', load: () => import('./deploy') },
  list: { summary: 'list the apps on the lattice with their phase and versions', load: () => import('./list') },
  get: { summary: "show an app's rollout as a table (--watch: follow it live)", load: () => import('./get') },
  status: {
    summary: "show an app's phase, rollout and hosts (exit 1 if unknown or unhealthy)",
    load: () => import('./status'),
  },
  history: { summary: "list an app's rollouts, newest first", load: () => import('./history') },
  set: { summary: "set image: roll out stable with one component's image changed", load: () => import('./set') },
  pause: { summary: 'hold a rollout before its next batch', load: async () => (await import('./control')).pause },
  resume: { summary: 'continue a held rollout', load: async () => (await import('./control')).resume },
  promote: { summary: 'skip pauses (--full: and analysis)', load: async () => (await import('./control')).promote },
  abort: { summary: 'abort a rollout and roll back to stable', load: async () => (await import('./control')).abort },
  retry: { summary: "start the app's last rollout again", load: async () => (await import('./control')).retry },
  undo: { summary: 'go back to stable (or --to VERSION)', load: async () => (await import('./control')).undo },
  delete: { summary: 'undeploy an app from every host and forget it', load: () => import('./delete') },
  host: { summary: 'run a host agent on NATS (wasm runtime, built-in providers)', load: () => import('./host') },
  orchestrator: { summary: 'run the orchestrator on NATS and serve its API', load: () => import('./orchestrator') },
  auth: { summary: 'render the nats-server authorization and per-role credentials', load: () => import('./auth') },
  demo: { summary: 'roll real wasm v1 → v2 → v3 across in-memory hosts under load', load: () => import('./demo') },
  paths: { summary: 'select covering test paths of a machine and print their coverage', load: () => import('./paths') },
  diagram: { summary: 'print a machine as a Mermaid or DOT diagram', load: () => import('./diagram') },
};
