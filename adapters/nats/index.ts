// cutover/adapters/nats: the Transport and StateStore ports on NATS (optional peers @nats-io/*).
export { createNatsStore } from './createNatsStore';
export type { NatsStoreOptions } from './createNatsStore';
export { createNatsTransport } from './createNatsTransport';
export type { NatsTransportOptions } from './createNatsTransport';
export { INBOXES, REPLY_PREFIXES, authorizationUsers, renderAuthorization } from './permissions';
export type {
  AuthorizationInput,
  NatsClientUser,
  NatsCredentials,
  NatsHostUser,
  NatsUserPermissions,
} from './permissions';
