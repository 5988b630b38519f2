// `cutover auth render`: the nats-server authorization of a lattice and one credentials file per role
// (orchestrator, each host, each client), with fresh random passwords and the inbox prefix each role must
// connect with. It owns generating credentials and writing or printing them; the permission lists themselves
// come from `cutover/adapters/nats` (permissions.ts), and it must not connect to anything.
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CutoverError } from '../../errors';
import { type DefinedCommand, defineCommand, defineGroup, required } from '../args';

/** One role's credentials file (`--creds FILE` reads it). */
export interface CredentialsFile {
  role: 'orchestrator' | 'host' | 'client';
  user: string;
  password: string;
  inboxPrefix: string;
}

const list = (value: unknown): string[] =>
  typeof value === 'string'
    ? value
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s.length > 0)
    : [];

const password = () => randomBytes(24).toString('base64url');

const render: DefinedCommand = defineCommand(
  {
    name: 'auth render',
    summary: 'render the nats-server authorization and per-role credentials',
    description:
      'Only the orchestrator may use JetStream and KV; hosts and clients reach no lattice state by any route\n' +
      '(no allow_responses; replies only into the role inboxes). Pass a .creds file to a command with --creds FILE.',
    options: {
      lattice: { type: 'string', value: 'L', help: 'the lattice the authorization is for', env: 'CUTOVER_LATTICE' },
      hosts: {
        type: 'string',
        value: 'IDS',
        help: 'host ids, each gets its own user (host-<id>) and inbox prefix (_INBOX.host.<id>)',
      },
      clients: {
        type: 'string',
        value: 'NAMES',
        help: 'API client users (default: cli), each with inbox prefix _INBOX.client.<name>',
      },
      orchestrator: { type: 'string', value: 'U', help: "the orchestrator's user (default: orchestrator)" },
      out: {
        type: 'string',
        value: 'DIR',
        help: 'write auth.conf and <user>.creds files (mode 0600) instead of printing them',
      },
    },
  },
  async ({ values }) =>
    renderAuth({
      lattice: required(render.spec, values, 'lattice'),
      hosts: list(values.hosts),
      clients: values.clients === undefined ? ['cli'] : list(values.clients),
      orchestrator: values.orchestrator ?? 'orchestrator',
      out: values.out,
    }),
);

/** `cutover auth render`. */
export const command = defineGroup('auth', 'render the nats-server authorization and per-role credentials', { render });
export const run = command.run;
export const spec = command.spec;

async function renderAuth(flags: {
  lattice: string;
  hosts: string[];
  clients: string[];
  orchestrator: string;
  out: string | undefined;
}): Promise<number> {
  const { authorizationUsers, renderAuthorization } = await import('cutover/adapters/nats');
  const input = {
    lattice: flags.lattice,
    orchestrator: { user: flags.orchestrator, password: password() },
    hosts: flags.hosts.map((id) => ({ id, user: `host-${id}`, password: password() })),
    clients: flags.clients.map((user) => ({ user, password: password() })),
  };
  const config = renderAuthorization(input);
  const roles = ['orchestrator', ...flags.hosts.map(() => 'host'), ...flags.clients.map(() => 'client')] as const;
  const files: CredentialsFile[] = authorizationUsers(input).map((u, i) => ({
    role: roles[i] as CredentialsFile['role'],
    user: u.user,
    password: u.password,
    inboxPrefix: u.inboxPrefix,
  }));
  if (flags.out === undefined) {
    process.stdout.write(`# nats-server config (include it in the server's config file)\n${config}\n`);
    process.stdout.write('# credentials (role user password inbox-prefix)\n');
    for (const f of files) process.stdout.write(`${f.role} ${f.user} ${f.password} ${f.inboxPrefix}\n`);
    return 0;
  }
  try {
    await mkdir(flags.out, { recursive: true });
    await writeFile(join(flags.out, 'auth.conf'), config, { mode: 0o600 });
    for (const f of files) {
      await writeFile(join(flags.out, `${f.user}.creds`), `${JSON.stringify(f, null, 2)}\n`, { mode: 0o600 });
    }
  } catch (error) {
    throw new CutoverError('config.invalid', `cannot write to --out "${flags.out}": ${(error as Error).message}`, {
      cause: error,
    });
  }
  process.stdout.write(`wrote ${join(flags.out, 'auth.conf')} and ${files.length} credentials files\n`);
  for (const f of files) process.stdout.write(`  ${join(flags.out, `${f.user}.creds`)} (${f.role})\n`);
  return 0;
}
