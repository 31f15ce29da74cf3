import { DefaultLogger, Runtime } from '@temporalio/worker';

// Workers in tests log warnings and errors only; their lifecycle chatter would bury the results.
Runtime.install({ logger: new DefaultLogger('WARN') });
