// nats-server stopped for 15 s and for 45 s during a rolling apply: the rollout waits the outage out (transport
// and store) and completes as it would have without it, every host on the new version, and no invocation a
// host accepted is lost. Real nats-server, real reconnects.
import { outageSuite } from './natsOutageRig';

outageSuite('apply', ['2', '3'], 'completed', (version) => version);
