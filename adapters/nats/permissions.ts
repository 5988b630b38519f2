// The nats-server authorization of a lattice: per-role users (orchestrator, hosts, clients), their publish and
// subscribe lists and their inbox namespaces, rendered as a server config block. It owns which subjects each
// role may reach; it must not connect or generate credentials (`cutover auth render` does, in src/cli).
import { CutoverError, subjects } from 'cutover';

export interface NatsCredentials {
  user: string;
  password: string;
}

export interface NatsHostUser extends NatsCredentials {
  id: string;
  /**
   * Inbox prefix this host connects with (nats.js `inboxPrefix`); default and required namespace
   * `_INBOX.host.{id}`, so no other host or client can read its replies.
   */
  inboxPrefix?: string;
}

export interface NatsClientUser extends NatsCredentials {
  /** Inbox prefix this client connects with; default and required namespace `_INBOX.client.{user}`. */
  inboxPrefix?: string;
}

export interface AuthorizationInput {
  lattice: string;
  /** May use everything, JetStream and KV included: the only writer of lattice state. */
  orchestrator: NatsCredentials & {
    /** Inbox prefix the orchestrator connects with; default and required namespace `_INBOX.orchestrator`. */
    inboxPrefix?: string;
  };
  /** Each host may only serve its control subjects, publish its events and use rpc subjects. */
  hosts: readonly NatsHostUser[];
  /** API clients (the CLI): request the cutover API, watch rollout events, invoke components. */
  clients?: readonly NatsClientUser[];
}

/** One user's permission lists, before rendering. */
export interface NatsUserPermissions {
  user: string;
  password: string;
  /** The inbox prefix this user must connect with (nats.js `inboxPrefix`). */
  inboxPrefix: string;
  publish: { allow: string[]; deny?: string[] };
  subscribe: { allow: string[]; deny?: string[] };
}

/** Subjects no host or client may touch: the JetStream API and KV buckets (lattice state). */
const STATE_SUBJECTS = ['$JS.>', '$KV.>', '$JSC.>', '$SYS.>'];

/**
 * The inbox namespace of each role. Replies only ever go to these: a host answers the orchestrator, clients
 * and (invocations from a front door) other hosts; nobody but the orchestrator may publish anywhere else,
 * and no role has `allow_responses` (nats-server lets a responder publish to ANY reply subject it was
 * handed, its deny list notwithstanding — that is how `$KV.…` reply subjects wrote lattice state).
 */
export const INBOXES = {
  orchestrator: '_INBOX.orchestrator',
  host: (id: string) => `_INBOX.host.${id}`,
  client: (user: string) => `_INBOX.client.${user}`,
} as const;

/** The reply prefixes every cutover process answers (the transports' `replyPrefixes`). */
export const REPLY_PREFIXES = ['_INBOX.orchestrator.', '_INBOX.host.', '_INBOX.client.'] as const;

const quote = (s: string) => JSON.stringify(s);
const TOKEN = /^[A-Za-z0-9_-]+$/;

function checkCredentials(role: string, c: NatsCredentials): void {
  for (const [field, value] of [
    ['user', c.user],
    ['password', c.password],
  ] as const) {
    if (typeof value !== 'string' || value.length === 0 || /[\r\n]/.test(value)) {
      throw new CutoverError('spec.invalid', `invalid ${role} ${field} "${String(value)}": non-empty, single line`);
    }
  }
}

/** `prefix` (default `namespace`), checked to lie inside `namespace` and to be a valid subject prefix. */
function inboxPrefix(prefix: string | undefined, namespace: string): string {
  const p = prefix ?? namespace;
  if (!/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(p) || (p !== namespace && !p.startsWith(`${namespace}.`)))
    throw new CutoverError('spec.invalid', `invalid inbox prefix "${p}": must be "${namespace}" or under it`);
  return p;
}

/** The permission lists of docs/wire.md for a lattice; `renderAuthorization` turns them into server config. */
export function authorizationUsers(input: AuthorizationInput): NatsUserPermissions[] {
  const { lattice } = input;
  try {
    subjects.hostsPing(lattice);
  } catch (err) {
    throw new CutoverError('spec.invalid', `invalid lattice "${lattice}"`, { cause: err });
  }
  // Every component's and provider's rpc subjects: hosts serve invocations and call providers.
  const rpc = `wasmbus.rpc.${lattice}.>`;
  checkCredentials('orchestrator', input.orchestrator);
  const users: NatsUserPermissions[] = [
    {
      user: input.orchestrator.user,
      password: input.orchestrator.password,
      inboxPrefix: inboxPrefix(input.orchestrator.inboxPrefix, INBOXES.orchestrator),
      publish: { allow: ['>'] },
      subscribe: { allow: ['>'] },
    },
  ];
  const seen = new Set<string>([input.orchestrator.user]);
  const unique = (user: string) => {
    if (seen.has(user)) throw new CutoverError('spec.invalid', `duplicate nats user "${user}"`);
    seen.add(user);
  };
  // Where a host's answers may go: the orchestrator's, the clients' and the hosts' inboxes (an invocation
  // from another host's front door), and nowhere else.
  const replies = [`${INBOXES.orchestrator}.>`, '_INBOX.client.>', '_INBOX.host.>'];
  for (const host of input.hosts) {
    checkCredentials(`host "${host.id}"`, host);
    unique(host.user);
    let control: string;
    let events: string;
    try {
      control = subjects.hostControl(lattice, host.id);
      events = subjects.hostEvents(lattice, host.id);
      if (!TOKEN.test(host.id)) throw new TypeError('not a token');
    } catch (err) {
      throw new CutoverError('spec.invalid', `invalid host id "${host.id}"`, { cause: err, hostId: host.id });
    }
    const prefix = inboxPrefix(host.inboxPrefix, INBOXES.host(host.id));
    users.push({
      user: host.user,
      password: host.password,
      inboxPrefix: prefix,
      publish: { allow: [events, rpc, ...replies], deny: STATE_SUBJECTS },
      subscribe: { allow: [control, subjects.hostsPing(lattice), rpc, `${prefix}.>`], deny: STATE_SUBJECTS },
    });
  }
  for (const client of input.clients ?? []) {
    checkCredentials('client', client);
    unique(client.user);
    if (!TOKEN.test(client.user))
      throw new CutoverError('spec.invalid', `invalid client user "${client.user}": letters, digits, _ and - only`);
    const prefix = inboxPrefix(client.inboxPrefix, INBOXES.client(client.user));
    users.push({
      user: client.user,
      password: client.password,
      inboxPrefix: prefix,
      // A client answers nothing: no inbox to publish to.
      publish: { allow: [subjects.apiAll(lattice), rpc], deny: STATE_SUBJECTS },
      subscribe: { allow: [subjects.allRolloutEvents(lattice), `${prefix}.>`], deny: STATE_SUBJECTS },
    });
  }
  return users;
}

/**
 * Renders a nats-server `authorization { users = [...] }` block where only the orchestrator may use
 * JetStream and KV: hosts and clients get no `$JS.>` / `$KV.>` rights, no `allow_responses`, and may only
 * answer into the role inboxes ({@link INBOXES}), so no reply subject reaches lattice state either.
 * @example
 * const conf = renderAuthorization({ lattice: 'default', orchestrator: { user: 'wadm', password: pw },
 *   hosts: [{ id: 'host-1', user: 'host-1', password: pw1 }] });
 */
export function renderAuthorization(input: AuthorizationInput): string {
  const list = (xs: readonly string[]) => `[${xs.map(quote).join(', ')}]`;
  const rules = (r: { allow: string[]; deny?: string[] }) =>
    `{ allow: ${list(r.allow)}${r.deny === undefined ? '' : `, deny: ${list(r.deny)}`} }`;
  const users = authorizationUsers(input).map((u) => {
    const perms = [`publish: ${rules(u.publish)}`, `subscribe: ${rules(u.subscribe)}`];
    return `    { user: ${quote(u.user)}, password: ${quote(u.password)}, permissions: {\n        ${perms.join(',\n        ')}\n    } }`;
  });
  return `authorization {\n  users = [\n${users.join(',\n')}\n  ]\n}\n`;
}
