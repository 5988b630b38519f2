import { CutoverError, subjects } from 'cutover';

export interface NatsCredentials {
  user: string;
  password: string;
}

export interface NatsHostUser extends NatsCredentials {
  id: string;
  /**
   * Inbox prefix this host connects with (nats.js `inboxPrefix`; default `_INBOX`). A per-host prefix
   * such as `_INBOX.host-1` keeps a host from reading replies meant for others.
   */
  inboxPrefix?: string;
}

export interface NatsClientUser extends NatsCredentials {
  /** Inbox prefix this client connects with (default `_INBOX`). */
  inboxPrefix?: string;
}

export interface AuthorizationInput {
  lattice: string;
  /** May use everything, JetStream and KV included: the only writer of lattice state. */
  orchestrator: NatsCredentials;
  /** Each host may only serve its control subjects, publish its events and use rpc subjects. */
  hosts: readonly NatsHostUser[];
  /** API clients (the CLI): request the cutover API, watch rollout events, invoke components. */
  clients?: readonly NatsClientUser[];
}

/** One user's permission lists, before rendering. */
export interface NatsUserPermissions {
  user: string;
  password: string;
  publish: { allow: string[]; deny?: string[] };
  subscribe: { allow: string[]; deny?: string[] };
  /** Lets a user answer requests it received without publish rights on the reply subject. */
  allowResponses?: boolean;
}

/** Subjects no host or client may touch: the JetStream API and KV buckets (lattice state). */
const STATE_SUBJECTS = ['$JS.>', '$KV.>', '$JSC.>'];

const quote = (s: string) => JSON.stringify(s);

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

function inbox(prefix: string | undefined): string {
  const p = prefix ?? '_INBOX';
  if (!/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(p))
    throw new CutoverError('spec.invalid', `invalid inbox prefix "${p}"`);
  return `${p}.>`;
}

/** The permission lists of DESIGN §6 for a lattice; `renderAuthorization` turns them into server config. */
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
      publish: { allow: ['>'] },
      subscribe: { allow: ['>'] },
    },
  ];
  const seen = new Set<string>([input.orchestrator.user]);
  const unique = (user: string) => {
    if (seen.has(user)) throw new CutoverError('spec.invalid', `duplicate nats user "${user}"`);
    seen.add(user);
  };
  for (const host of input.hosts) {
    checkCredentials(`host "${host.id}"`, host);
    unique(host.user);
    let control: string;
    let events: string;
    try {
      control = subjects.hostControl(lattice, host.id);
      events = subjects.hostEvents(lattice, host.id);
    } catch (err) {
      throw new CutoverError('spec.invalid', `invalid host id "${host.id}"`, { cause: err, hostId: host.id });
    }
    users.push({
      user: host.user,
      password: host.password,
      // Replies to control requests and invocations go out through allow_responses, so a host
      // cannot publish into another party's inbox unasked.
      publish: { allow: [events, rpc], deny: STATE_SUBJECTS },
      subscribe: { allow: [control, subjects.hostsPing(lattice), rpc, inbox(host.inboxPrefix)], deny: STATE_SUBJECTS },
      allowResponses: true,
    });
  }
  for (const client of input.clients ?? []) {
    checkCredentials('client', client);
    unique(client.user);
    users.push({
      user: client.user,
      password: client.password,
      publish: { allow: [subjects.apiAll(lattice), rpc], deny: STATE_SUBJECTS },
      subscribe: { allow: [subjects.allRolloutEvents(lattice), inbox(client.inboxPrefix)], deny: STATE_SUBJECTS },
    });
  }
  return users;
}

/**
 * Renders a nats-server `authorization { users = [...] }` block where only the orchestrator may use
 * JetStream and KV (hosts get no `$JS.API.>` / `$KV.>` rights at all).
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
    if (u.allowResponses === true) perms.push('allow_responses: true');
    return `    { user: ${quote(u.user)}, password: ${quote(u.password)}, permissions: {\n        ${perms.join(',\n        ')}\n    } }`;
  });
  return `authorization {\n  users = [\n${users.join(',\n')}\n  ]\n}\n`;
}
