// nats-server stopped for 15 s and for 45 s during a rollback (the last host cannot validate the new version):
// the rollback waits the outage out and ends rolledBack, every host back on stable exactly (version 1), and no
// invocation a host accepted is lost. Real nats-server, real reconnects.
import { outageSuite } from './natsOutageRig';

outageSuite('rollback', ['bad1', 'bad2'], 'rolledBack', () => '1');
