import { DefaultLogger, Runtime } from '@temporalio/worker';

// Workers in tests log errors only: their lifecycle chatter and the failures that tests provoke on
// purpose (nondeterminism in the replay test, retried activities) would bury the results.
Runtime.install({
  logger: new DefaultLogger('ERROR'),
  telemetryOptions: { logging: { filter: { core: 'ERROR', other: 'ERROR' }, forward: {} } },
});
