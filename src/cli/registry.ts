// Registry settings shared by `cutover host` (pulling images) and `cutover orchestrator` (pinning tags to
// digests at plan time): mirrors, plain-http registries and credentials, each with its environment variable.
import type { OptionTable, Values } from './args';
import { UsageError } from './args';
import { pairs } from './natsConnect';

/** Registry options of `host` and `orchestrator`. */
export const REGISTRY_OPTIONS = {
  'registry-mirror': {
    type: 'string',
    multiple: true,
    value: 'FROM=TO',
    help: 'fetch images of registry FROM from TO (http unless https://)',
  },
  'insecure-registry': {
    type: 'string',
    multiple: true,
    value: 'HOST:PORT',
    help: 'reach this registry over plain http (loopback and mirrors already are)',
  },
  'registry-user': {
    type: 'string',
    value: 'U',
    help: 'registry user (basic or token auth)',
    env: 'CUTOVER_REGISTRY_USER',
  },
  'registry-password': {
    type: 'string',
    value: 'P',
    help: 'registry password or token',
    env: 'CUTOVER_REGISTRY_PASSWORD',
  },
} as const satisfies OptionTable;

/** Registry credentials, and which registries they go to. */
export interface RegistrySettings {
  mirrors: Record<string, string>;
  insecure: string[];
  credentials: { username: string; password: string } | undefined;
}

/** The registry settings of `host` or `orchestrator`. */
export function registryOf(values: Values<typeof REGISTRY_OPTIONS>): RegistrySettings {
  const user = values['registry-user'];
  const password = values['registry-password'];
  if ((user === undefined) !== (password === undefined))
    throw new UsageError('--registry-user and --registry-password go together');
  return {
    mirrors: pairs(values['registry-mirror'], 'registry-mirror'),
    insecure: values['insecure-registry'] ?? [],
    credentials: user === undefined || password === undefined ? undefined : { username: user, password },
  };
}

/** The wasm runtime options of these settings (credentials offered to every registry that asks). */
export function runtimeOptionsOf(r: RegistrySettings) {
  const credentials = r.credentials;
  return {
    mirrors: r.mirrors,
    insecureRegistries: r.insecure,
    ...(credentials === undefined ? {} : { auth: () => credentials }),
  };
}
