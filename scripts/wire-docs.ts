// Generates docs/wire.md, the protocol reference someone can implement cutover from (in Go, Rust, ...): the
// subjects, every message and reply rendered from the zod schemas themselves (so the document cannot drift from
// the code), the error codes, the limits, the invocation reply framing, the spec-hash algorithm, lease records
// and fencing, ids from manifests and the versioning rule. test/protocol/wireDocs.test.ts fails when the file
// is stale. Run: node --import tsx scripts/wire-docs.ts
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { ERROR_CODES } from '../src/errors';
import * as api from '../src/orchestrator/api/messages';
import { LeaseRecord } from '../src/orchestrator/lease';
import * as inventory from '../src/protocol/inventory';
import { API_LIMITS, CONTROL_LIMITS, MAX_REPLY_ISSUES, MAX_REPLY_TEXT } from '../src/protocol/limits';
import { CONTENT_VERSION_LENGTH, MANIFEST_LIMITS } from '../src/protocol/manifest';
import * as messages from '../src/protocol/messages';
import * as rollout from '../src/protocol/rollout';
import * as spec from '../src/protocol/spec';
import { buckets, subjects } from '../src/protocol/subjects';

/** The command that regenerates docs/wire.md. */
export const WIRE_DOCS_COMMAND = 'node --import tsx scripts/wire-docs.ts';
/** Where the document lives. */
export const WIRE_DOCS_PATH = fileURLToPath(new URL('../docs/wire.md', import.meta.url));

type Json = Record<string, unknown>;

/** Named schemas, in document order: each gets a section and is referred to by name elsewhere. */
const SECTIONS: [string, [string, z.ZodType][]][] = [
  [
    'Values',
    [
      ['Id', spec.Id],
      ['Version', spec.Version],
      ['Digest', spec.Digest],
      ['SecretRef', spec.SecretRef],
      ['LinkSpec', spec.LinkSpec],
      ['DirectedLink', spec.DirectedLink],
      ['ComponentSpec', spec.ComponentSpec],
      ['ProviderSpec', spec.ProviderSpec],
      ['Spread', spec.Spread],
      ['Scale', spec.Scale],
      ['AppRevision', spec.AppRevision],
    ],
  ],
  [
    'Host control requests',
    [
      ['component.apply', messages.ComponentApply],
      ['component.delete', messages.ComponentDelete],
      ['component.promote', messages.ComponentPromote],
      ['component.revert', messages.ComponentRevert],
      ['provider.apply', messages.ProviderApply],
      ['provider.delete', messages.ProviderDelete],
      ['host.fence', messages.HostFence],
      ['host.inventory', messages.InventoryRequest],
    ],
  ],
  [
    'Replies',
    [
      ['accepted', messages.Accepted],
      ['error', messages.ErrorReply],
      ['ok', messages.Ok],
      ['host.fenced', messages.HostFenced],
      ['host.inventory.reply', messages.InventoryReply],
    ],
  ],
  [
    'Inventory',
    [
      ['HostInventory', inventory.HostInventory],
      ['ComponentInventory', inventory.ComponentInventory],
      ['LastApply', inventory.LastApply],
      ['GateStats', inventory.GateStats],
      ['GateCounters', inventory.GateCounters],
      ['LatencySummary', inventory.LatencySummary],
    ],
  ],
  [
    'Host reports',
    [
      ['component.applied', messages.ComponentApplied],
      ['component.failed', messages.ComponentFailed],
      ['component.changed', messages.ComponentChanged],
      ['host.heartbeat', messages.HostHeartbeat],
    ],
  ],
  [
    'Provider links',
    [
      ['provider.link.put', messages.ProviderLinkPut],
      ['provider.link.delete', messages.ProviderLinkDelete],
    ],
  ],
  [
    'Orchestrator API',
    [
      ['api.deploy', api.DeployRequest],
      ['api.status', api.StatusRequest],
      ['api.history', api.HistoryRequest],
      ['api.pause', api.PauseRequest],
      ['api.resume', api.ResumeRequest],
      ['api.promote', api.PromoteRequest],
      ['api.abort', api.AbortRequest],
      ['api.retry', api.RetryRequest],
      ['api.undo', api.UndoRequest],
      ['api.rollout', api.RolloutRequest],
      ['api.list', api.ListRequest],
      ['api.delete', api.DeleteRequest],
      ['api.revision', api.RevisionRequest],
      ['ApiRolloutView', api.ApiRolloutView],
      ['ApiAppStatus', api.ApiAppStatus],
      ['api.status.reply', api.StatusReply],
      ['api.history.reply', api.HistoryReply],
      ['api.rollout.reply', api.RolloutReply],
      ['api.list.reply', api.ListReply],
      ['api.delete.reply', api.DeleteReply],
      ['api.revision.reply', api.RevisionReply],
      ['RolloutOutput', rollout.RolloutOutput],
      ['rollout events', api.RolloutEventMessage],
    ],
  ],
  ['Stored records', [['LeaseRecord', LeaseRecord]]],
];

/** GitHub's heading anchor. */
const anchor = (name: string) =>
  name
    .toLowerCase()
    .replace(/[^a-z0-9 _-]/g, '')
    .replace(/ /g, '-');

/** A JSON schema as a compact type expression (named schemas as links). */
function typeOf(s: Json): string {
  if (typeof s.$ref === 'string') {
    const name = s.$ref.slice(1);
    return `[${name}](#${anchor(name)})`;
  }
  if ('const' in s) return `\`${JSON.stringify(s.const)}\``;
  if (Array.isArray(s.enum)) return s.enum.map((v) => `\`${JSON.stringify(v)}\``).join(' \\| ');
  for (const key of ['anyOf', 'oneOf'] as const) {
    if (Array.isArray(s[key])) return (s[key] as Json[]).map(typeOf).join(' \\| ');
  }
  const limits: string[] = [];
  if (typeof s.minLength === 'number' && s.minLength > 0) limits.push(`≥${s.minLength} chars`);
  if (typeof s.maxLength === 'number') limits.push(`≤${s.maxLength} chars`);
  if (typeof s.pattern === 'string') limits.push(`\`${s.pattern.replaceAll('|', '\\|')}\``);
  if (typeof s.minimum === 'number') limits.push(`≥${s.minimum}`);
  if (typeof s.maximum === 'number' && s.maximum < Number.MAX_SAFE_INTEGER) limits.push(`≤${s.maximum}`);
  if (typeof s.minItems === 'number' && s.minItems > 0) limits.push(`≥${s.minItems} items`);
  if (typeof s.maxItems === 'number') limits.push(`≤${s.maxItems} items`);
  const suffix = limits.length === 0 ? '' : ` (${limits.join(', ')})`;
  switch (s.type) {
    case 'array':
      return `${typeOf((s.items ?? {}) as Json)}[]${suffix}`;
    case 'object': {
      const props = s.properties as Record<string, Json> | undefined;
      if (props === undefined) {
        const values = s.additionalProperties;
        return `map of string → ${values === undefined || values === true ? 'any' : typeOf(values as Json)}`;
      }
      const required = new Set((s.required as string[] | undefined) ?? []);
      const fields = Object.entries(props).map(([k, v]) => `${k}${required.has(k) ? '' : '?'}: ${typeOf(v)}`);
      return `{ ${fields.join(', ')} }`;
    }
    case undefined:
      return 'any';
    default:
      return `${String(s.type)}${suffix}`;
  }
}

/** One named schema's section: a field table for objects, the type otherwise. */
function section(name: string, s: Json): string {
  const lines = [`#### ${name}`, ''];
  const props = s.properties as Record<string, Json> | undefined;
  if (s.type !== 'object' || props === undefined) return [...lines, typeOf(s), ''].join('\n');
  const required = new Set((s.required as string[] | undefined) ?? []);
  lines.push('| field | type | required | default |', '|---|---|---|---|');
  for (const [field, f] of Object.entries(props)) {
    const dflt = 'default' in f ? `\`${JSON.stringify(f.default)}\`` : '';
    lines.push(`| \`${field}\` | ${typeOf(f)} | ${required.has(field) ? 'yes' : 'no'} | ${dflt} |`);
  }
  if (s.additionalProperties === false) lines.push('', 'No other fields (see the versioning rule).');
  return [...lines, ''].join('\n');
}

function messageSections(): string {
  const registry = z.registry<{ id: string }>();
  for (const [, schemas] of SECTIONS) for (const [name, schema] of schemas) registry.add(schema, { id: name });
  const { schemas } = z.toJSONSchema(registry, { io: 'input', unrepresentable: 'any', uri: (id) => `#${id}` });
  return SECTIONS.map(
    ([title, list]) => `### ${title}\n\n${list.map(([name]) => section(name, schemas[name] as Json)).join('\n')}`,
  ).join('\n');
}

const L = '{lattice}';
const H = '{hostId}';

function subjectTable(): string {
  const rows: [string, string, string][] = [
    [subjects.componentApply(L, H), '`component.apply` → `accepted` or `error`', 'request/reply; outcome as a report'],
    [subjects.componentDelete(L, H), '`component.delete` → `accepted` or `error`', 'request/reply'],
    [subjects.componentPromote(L, H), '`component.promote` → `accepted` or `error`', 'request/reply (blue-green)'],
    [subjects.componentRevert(L, H), '`component.revert` → `accepted` or `error`', 'request/reply (blue-green)'],
    [subjects.providerApply(L, H), '`provider.apply` → `accepted` or `error`', 'request/reply'],
    [subjects.providerDelete(L, H), '`provider.delete` → `accepted` or `error`', 'request/reply'],
    [subjects.hostFence(L, H), '`host.fence` → `host.fenced` or `error`', 'request/reply (takeover fencing)'],
    [subjects.inventory(L, H), '`host.inventory` → `host.inventory.reply` or `error`', 'request/reply'],
    [subjects.hostsPing(L), '`host.inventory` → one `host.inventory.reply` (or `error`) per host', 'scatter/gather'],
    [
      subjects.hostEvents(L, H),
      '`component.applied`, `component.failed`, `component.changed`, `host.heartbeat`',
      'publish',
    ],
    [subjects.linkPut(L, '{providerId}'), '`provider.link.put` → `ok` or `error`', 'request/reply'],
    [subjects.linkDelete(L, '{providerId}'), '`provider.link.delete` → `ok` or `error`', 'request/reply'],
    [
      subjects.invoke(L, '{componentId}', '{operation}'),
      'payload bytes → framed reply',
      'request/reply, queue group `{componentId}`',
    ],
    [
      subjects.invokePreview(L, '{componentId}', '{operation}'),
      'payload → framed reply from a standby',
      'request/reply, queue `{componentId}.preview`',
    ],
    [subjects.api(L, '{op}'), '`api.{op}` → `api.{op}.reply` or `error`', 'request/reply, queue group `cutover-api`'],
    [
      subjects.apiDirect(L, '{holder}', '{op}'),
      'the same, to one orchestrator (forwarded to the lease holder)',
      'request/reply',
    ],
    [subjects.rolloutEvents(L, '{rolloutId}'), '`rollout.snapshot`, `rollout.outcome` (see rollout events)', 'publish'],
  ];
  return [
    '| subject | messages | pattern |',
    '|---|---|---|',
    ...rows.map((r) => `| \`${r[0]}\` | ${r[1]} | ${r[2]} |`),
  ].join('\n');
}

function errorTable(): string {
  return [
    '| code | retryable |',
    '|---|---|',
    ...Object.entries(ERROR_CODES).map(([code, { retryable }]) => `| \`${code}\` | ${retryable ? 'yes' : 'no'} |`),
  ].join('\n');
}

const kb = (n: number) => `${n / 1024} KiB`;

/** The whole of docs/wire.md. */
export function renderWireDocs(): string {
  return `<!-- Generated by \`${WIRE_DOCS_COMMAND}\` from the zod schemas; do not edit by hand. -->
# cutover wire protocol (version ${messages.PROTOCOL_VERSION})

Everything a host, an orchestrator or a client must send and accept to take part in a cutover lattice. All
messages are UTF-8 JSON objects with a dotted \`type\` and a protocol \`version\` (currently
\`${messages.PROTOCOL_VERSION}\`), except invocation payloads (raw bytes, see *Invocation replies*).

## Versioning rule

- A message whose \`version\` is missing is read as version ${messages.PROTOCOL_VERSION}; any other \`version\`
  (newer or older) is refused with \`message.invalid\` — a receiver never guesses at a shape it does not know.
- Objects are closed: an unknown field is refused with \`message.invalid\` naming it. A new field therefore
  comes with a new protocol version, and a sender talking to an older receiver keeps to that receiver's version.
- Unknown \`type\`s are refused with \`message.invalid\`; unknown error \`code\`s in a reply are kept as text
  by the receiver (read as \`invoke.failed\` when a code is needed).
- Subject names carry their own version token (\`v2alpha1\`, \`v1alpha1\`); a breaking change moves to a new token.

## Subjects

\`{lattice}\`, \`{hostId}\`, \`{componentId}\`, \`{providerId}\`, \`{rolloutId}\` and \`{holder}\` are **ids** (see
[Id](#id)): each is exactly one subject token. Replies go to the requester's reply subject, which must be an
inbox (\`_INBOX.…\`): cutover processes refuse to answer on any other reply subject.

${subjectTable()}

Buckets (JetStream KV, written by the orchestrator only): \`${buckets.latticedata(L)}\` (specs, links),
\`${buckets.configdata(L)}\` (config), \`${buckets.cutover(L)}\` (rollout snapshots, plans, history, leases).

### Permissions

\`cutover auth render --lattice L --hosts h1,h2\` prints the nats-server authorization. Only the orchestrator may
use \`$JS.>\` / \`$KV.>\`; no role has \`allow_responses\` (nats-server lets a responder publish to any reply
subject it was handed, deny list or not). Each role connects with its own inbox prefix: the orchestrator
\`_INBOX.orchestrator\`, a host \`_INBOX.host.{hostId}\`, a client \`_INBOX.client.{user}\`. A host may publish only
its events, rpc subjects and into the role inboxes (its answers); a client only API requests and invocations.
A host may answer into another host's inbox (an invocation from that host's front door); it cannot read it.

## Limits

| input | bytes | keys | depth |
|---|---|---|---|
| API request | ${kb(API_LIMITS.bytes)} | ${API_LIMITS.keys} | ${API_LIMITS.depth} |
| host control request | ${kb(CONTROL_LIMITS.bytes)} | ${CONTROL_LIMITS.keys} | ${CONTROL_LIMITS.depth} |
| manifest text (deploy) | ${kb(MANIFEST_LIMITS.bytes)} | ${MANIFEST_LIMITS.keys} | ${MANIFEST_LIMITS.depth} |

A request over a limit is refused with \`message.tooLarge\` before it is parsed. Every id is at most
${spec.ID_MAX_LENGTH} characters. An \`error\` reply carries at most ${MAX_REPLY_ISSUES} issues, then one issue
\`{ "path": "(more)", "message": "N more issues" }\`; its message and each issue's path and message are cut to
${MAX_REPLY_TEXT} characters.

## Errors

A refusal is an \`error\` reply \`{ type: "error", version, code, message, retryable, issues? }\`; a control
request that was accepted reports its outcome later (\`component.applied\` / \`component.failed\` with a \`code\`).

A host sends its reports at the end of the tick (event-loop turn) they arose in, in order: the outcomes of that
tick, then one \`component.changed\` per component that changed, describing the component as it stands when the
tick ends. The phases a component passed through within one tick are not sent one by one (an upgrade that needs
no download finishes in one tick: one \`component.applied\` and one \`component.changed\`, where it used to be seven
reports); a phase that outlasts its tick (a slow download) is reported. Reports are hints, sent at most once:
receivers that must know read the inventory.

${errorTable()}

## Invocation replies

An invocation's reply is framed by its first byte: \`0x00\` followed by the component's reply payload, or
\`0x01\` followed by an \`error\` reply as JSON (e.g. \`invoke.notFound\`, \`gate.overflow\`, \`invoke.failed\`).
Any other first byte is a malformed reply (\`message.invalid\`).

## Spec hash

A component's or provider's identity, carried as \`hash\` in \`accepted\` and reports:

1. Validate the spec and fill in defaults (\`config: {}\`, \`secrets: []\`, \`links: []\`, \`annotations: {}\`,
   \`maxInstances: 1\` for components; a link's \`name: "default"\`, \`sourceConfig: {}\`, \`targetConfig: {}\`).
2. Sort \`links\` by \`source\`, \`namespace\`, \`package\`, \`name\`, \`target\` (joined with U+0000, compared by
   UTF-16 code units); within each link, de-duplicate \`interfaces\` and sort them. Sort \`secrets\` by \`name\`.
3. Canonical JSON: object keys sorted by UTF-16 code units at every depth, members whose value is undefined
   left out, no whitespace, strings and numbers as JSON.stringify writes them (non-finite numbers are invalid).
4. hash = lowercase hex sha256 of the UTF-8 bytes of \`component:\` (or \`provider:\`) followed by that JSON.

A revision's \`contentHash\` is the sha256 of \`revision:\` + canonical JSON of its content (version
excluded; links as sorted canonical strings); a manifest without a \`version\` annotation gets the first
${CONTENT_VERSION_LENGTH} hex digits of it as version.

## Ids from manifests

A wadm component's id is its \`properties.id\` when given; otherwise \`{app}-{name}\` with both lowercased and
every character other than \`a-z0-9\` replaced by \`_\` (wadm's \`compute_component_id\`). Either way it must be
a valid [Id](#id), or the manifest is refused with \`manifest.invalid\` naming the component.

## Leases and fencing

One lease per app in bucket \`${buckets.cutover(L)}\`, key \`lease.{app}\` (see [LeaseRecord](#leaserecord)), written
only by compare-and-set on the key's revision. Taking an expired or released lease increments \`token\`; renewing
keeps it. Every control request carries \`{ app, leaseToken }\`: a host keeps the highest token per app and
refuses lower ones with \`lease.stale\`. A new holder first sends \`host.fence\` to every host of the app; the
host raises its token (never lowers it) and answers \`host.fenced\` with the token it now holds — a higher one
than the sender's means the sender is stale and must stop.

## Messages

${messageSections()}`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(WIRE_DOCS_PATH, renderWireDocs());
  process.stdout.write(`wrote ${WIRE_DOCS_PATH}\n`);
}
