import fs from 'node:fs';
import { ConfigError, loadConfig } from '../config/index.js';
import { StackError } from './processes.js';
import { consoleSay } from './progress.js';
import { down, logFile, serviceNames, status, up, type ServiceName } from './stack.js';
import { toolPaths } from './tools.js';

const usage = `usage: npm run stack -- <command> [service...]
  up [service...]      install what is missing, start the services, wait until they answer
                       (--temporal server: Temporal's production server on PostgreSQL instead of the dev server;
                        --scale: a 3-node Kafka cluster, replication factor 3, min.insync.replicas 2;
                        --traces: Zipkin too, downloaded once, for the traces npm start sends it)
  down [service...]    stop the services this stack started
  status               which services run, and where
  logs <service>       the last lines of a service's log (postgres, kafka, temporal, zipkin)
  temporal <args...>   the Temporal CLI that the stack installed, pointed at the local server`;

function parseServices(names: string[]): ServiceName[] {
  for (const name of names) {
    if (!(serviceNames as readonly string[]).includes(name)) {
      throw new StackError(`unknown service '${name}'; the services are ${serviceNames.join(', ')}`);
    }
  }
  return names as ServiceName[];
}

async function main(argv: string[]): Promise<number> {
  const [command, ...words] = argv;
  // `--temporal server|dev` is TEMPORAL_SERVER for this command, `--scale` KAFKA_NODES=3, `--traces` STACK_TRACES.
  const flag = words.indexOf('--temporal');
  const env = {
    ...process.env,
    ...(flag >= 0 && { TEMPORAL_SERVER: words[flag + 1] }),
    ...(words.includes('--scale') && { KAFKA_NODES: '3' }),
    ...(words.includes('--traces') && { STACK_TRACES: 'true' }),
  };
  const rest = words.filter((word, i) => word !== '--traces' && word !== '--scale' && (flag < 0 || (i !== flag && i !== flag + 1)));
  const config = loadConfig(env);
  switch (command) {
    case 'up': {
      const { started, urls } = await up(config, { only: parseServices(rest), say: consoleSay('stack: ') });
      for (const [name, list] of Object.entries(urls)) {
        console.log(`${name.padEnd(9)} ${started.includes(name as ServiceName) ? 'started' : 'running'}  ${list?.join('  ')}`);
      }
      return 0;
    }
    case 'down': {
      const stopped = await down(config, parseServices(rest));
      console.log(stopped.length ? `stopped ${stopped.join(', ')}` : 'nothing of this stack was running');
      return 0;
    }
    case 'status': {
      let allUp = true;
      for (const s of await status(config)) {
        allUp &&= s.answering;
        const state = s.answering ? `up (pid ${s.pid})` : s.pid ? `starting or stuck (pid ${s.pid})` : 'stopped';
        console.log(`${s.name.padEnd(9)} ${state.padEnd(22)} ${s.urls.join('  ')}`);
      }
      return allUp ? 0 : 3;
    }
    case 'logs': {
      const [name] = parseServices(rest.slice(0, 1));
      if (!name) throw new StackError(`logs needs a service: ${serviceNames.join(', ')}`);
      const file = logFile(config, name);
      if (!fs.existsSync(file)) throw new StackError(`no log yet for ${name} (${file})`);
      console.log(fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-100).join('\n'));
      return 0;
    }
    case 'temporal': {
      const { spawnSync } = await import('node:child_process');
      const result = spawnSync(toolPaths(config.stack.cacheDir).temporal, rest, {
        stdio: 'inherit',
        env: { ...process.env, TEMPORAL_ADDRESS: config.temporal.address, TEMPORAL_NAMESPACE: config.temporal.namespace },
      });
      if (result.error) throw new StackError(`the Temporal CLI is not installed yet; run: npm run stack -- up`);
      return result.status ?? 1;
    }
    default:
      console.error(usage);
      return command === undefined || command === 'help' || command === '--help' ? 0 : 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof StackError || error instanceof ConfigError) {
      console.error(`stack: ${error.message}`);
      process.exit(1);
    }
    throw error;
  },
);
