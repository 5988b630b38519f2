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
};
