import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import type { Config } from '../config/index.js';
import { orderSearchAttributes } from '../workflows/search-attributes.js';
import type { DetachedSpec } from './processes.js';
import { run, StackError } from './processes.js';
import type { ToolPaths } from './tools.js';

export interface PortUse {
  host: string;
  port: number;
  /** The variable that moves it elsewhere, named in the error when the port is taken. */
  env: string;
}

/** One server of the local stack: how to prepare its state, start it, and know that it answers. */
export interface Service {
  name: 'postgres' | 'kafka' | 'temporal';
  ports: PortUse[];
  /** One-time (and then idempotent) preparation of its state directory. */
  prepare(): Promise<void>;
  launch(): Omit<DetachedSpec, 'pidFile' | 'logFile'>;
  stopSignal: NodeJS.Signals;
  ready(): Promise<boolean>;
  readyTimeoutMs: number;
  /** Runs every time it is up, ours or already running: roles, databases, search attributes. */
  afterReady?(): Promise<void>;
  urls: string[];
}

export interface ServiceContext {
  config: Config;
  tools: ToolPaths;
  logDir: string;
}

function postgresAccount(): { uid: number; gid: number } | undefined {
  if (os.userInfo().uid !== 0) return undefined;
  const line = fs
    .readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('postgres:'));
  if (!line) throw new StackError("missing prerequisite: the 'postgres' system user (Debian package postgresql)");
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

/** Whether an account can reach a directory: every ancestor must let it search. */
function reachable(dir: string, account: { uid: number; gid: number }): boolean {
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    if (fs.existsSync(d)) {
      const st = fs.statSync(d);
      const bit = st.uid === account.uid ? 0o100 : st.gid === account.gid ? 0o010 : 0o001;
      if ((st.mode & bit) === 0) return false;
    }
    if (d === path.dirname(d)) return true;
  }
}

export function postgresService({ config, tools, logDir }: ServiceContext): Service {
  const pgConfig = config.postgres;
  const account = postgresAccount();
  // PostgreSQL will not run as root: as root it runs as the 'postgres' account, whose data must be
  // somewhere that account can reach. A private state directory (a 0700 checkout, say) is not, so
  // the cluster then lives under the account's home, one per state directory.
  let home = path.join(config.stack.stateDir, 'postgres');
  if (account && !reachable(config.stack.stateDir, account)) {
    const key = createHash('sha256').update(config.stack.stateDir).digest('hex').slice(0, 12);
    home = path.join('/var/lib/postgresql/order-saga', key);
  }
  const dataDir = path.join(home, 'data');
  const socketDir = path.join(home, 'run');
  const admin = () =>
    new pg.Client({ host: socketDir, port: pgConfig.port, user: 'postgres', database: 'postgres' });

  return {
    name: 'postgres',
    ports: [{ host: pgConfig.host, port: pgConfig.port, env: 'POSTGRES_PORT' }],
    async prepare() {
      fs.mkdirSync(socketDir, { recursive: true });
      if (account) fs.chownSync(home, account.uid, account.gid);
      if (account) fs.chownSync(socketDir, account.uid, account.gid);
      if (home !== path.join(config.stack.stateDir, 'postgres')) {
        fs.writeFileSync(path.join(config.stack.stateDir, 'postgres-location'), `${home}\n`);
      }
      if (fs.existsSync(path.join(dataDir, 'PG_VERSION'))) return;
      await run(
        path.join(tools.postgresBin, 'initdb'),
        ['-D', dataDir, '-U', 'postgres', '--auth-local=trust', '--auth-host=scram-sha-256', '-E', 'UTF8', '--no-locale'],
        { logFile: path.join(logDir, 'postgres-init.log'), ...account },
      );
    },
    launch: () => ({
      command: path.join(tools.postgresBin, 'postgres'),
      args: [
        '-D', dataDir,
        '-p', String(pgConfig.port),
        '-c', `listen_addresses=${pgConfig.host}`,
        '-c', `unix_socket_directories=${socketDir}`,
        '-c', 'max_connections=300',
      ],
      marker: dataDir,
      ...account,
    }),
    stopSignal: 'SIGINT',
    async ready() {
      const client = admin();
      try {
        await client.connect();
        await client.query('SELECT 1');
        return true;
      } finally {
        await client.end().catch(() => undefined);
      }
    },
    readyTimeoutMs: 30_000,
    async afterReady() {
      const client = admin();
      await client.connect();
      try {
        const role = client.escapeIdentifier(pgConfig.user);
        const password = client.escapeLiteral(pgConfig.password);
        const { rowCount } = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [pgConfig.user]);
        // CREATEDB lets the test harness give each run a database of its own.
        await client.query(`${rowCount ? 'ALTER' : 'CREATE'} ROLE ${role} LOGIN CREATEDB PASSWORD ${password}`);
        const db = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [pgConfig.database]);
        if (!db.rowCount) await client.query(`CREATE DATABASE ${client.escapeIdentifier(pgConfig.database)} OWNER ${role}`);
      } finally {
        await client.end();
      }
    },
    urls: [`postgresql://${pgConfig.user}@${pgConfig.host}:${pgConfig.port}/${pgConfig.database}`],
  };
}

export function kafkaService({ config, tools, logDir }: ServiceContext): Service {
  const kafka = config.kafka;
  const home = path.join(config.stack.stateDir, 'kafka');
  const dataDir = path.join(home, 'data');
  const properties = path.join(home, 'server.properties');
  const log4j = path.join(home, 'log4j.properties');
  const java = ['-cp', `${tools.kafkaLib}/*`];

  return {
    name: 'kafka',
    ports: [
      { host: kafka.host, port: kafka.port, env: 'KAFKA_PORT' },
      { host: kafka.host, port: kafka.controllerPort, env: 'KAFKA_CONTROLLER_PORT' },
    ],
    async prepare() {
      fs.mkdirSync(dataDir, { recursive: true });
      fs.writeFileSync(
        properties,
        [
          'process.roles=broker,controller',
          'node.id=1',
          `controller.quorum.voters=1@${kafka.host}:${kafka.controllerPort}`,
          `listeners=PLAINTEXT://${kafka.host}:${kafka.port},CONTROLLER://${kafka.host}:${kafka.controllerPort}`,
          `advertised.listeners=PLAINTEXT://${kafka.host}:${kafka.port}`,
          'controller.listener.names=CONTROLLER',
          'inter.broker.listener.name=PLAINTEXT',
          'listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
          `log.dirs=${dataDir}`,
          'num.partitions=1',
          'offsets.topic.replication.factor=1',
          'offsets.topic.num.partitions=6',
          'transaction.state.log.replication.factor=1',
          'transaction.state.log.min.isr=1',
          'group.initial.rebalance.delay.ms=0',
          // Topics are provisioned with their partitions and retention before anyone subscribes.
          'auto.create.topics.enable=false',
          '',
        ].join('\n'),
      );
      fs.writeFileSync(
        log4j,
        [
          'log4j.rootLogger=WARN, stdout',
          'log4j.appender.stdout=org.apache.log4j.ConsoleAppender',
          'log4j.appender.stdout.layout=org.apache.log4j.PatternLayout',
          'log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n',
          'log4j.logger.kafka.server.KafkaServer=INFO',
          'log4j.logger.kafka.server.KafkaRaftServer=INFO',
          '',
        ].join('\n'),
      );
      if (fs.existsSync(path.join(dataDir, 'meta.properties'))) return;
      const clusterId = randomBytes(16).toString('base64url');
      await run('java', [...java, 'kafka.tools.StorageTool', 'format', '-t', clusterId, '-c', properties, '--ignore-formatted'], {
        logFile: path.join(logDir, 'kafka-format.log'),
      });
    },
    launch: () => ({
      command: 'java',
      args: [
        '-Xms256m', '-Xmx768m', '-XX:+UseG1GC', '-Djava.awt.headless=true',
        `-Dlog4j.configuration=file:${log4j}`,
        `-Dkafka.logs.dir=${logDir}`,
        ...java, 'kafka.Kafka', properties,
      ],
      marker: properties,
    }),
    stopSignal: 'SIGTERM',
    async ready() {
      const admin = new Kafka({
        clientId: 'order-saga-stack',
        brokers: kafka.brokers,
        logLevel: logLevel.NOTHING,
        connectionTimeout: 1000,
        retry: { retries: 0 },
      }).admin();
      try {
        await admin.connect();
        const cluster = await admin.describeCluster();
        return cluster.controller !== null && cluster.brokers.length > 0;
      } finally {
        await admin.disconnect().catch(() => undefined);
      }
    },
    readyTimeoutMs: 60_000,
    urls: [`kafka://${kafka.brokers.join(',')}`],
  };
}

const cliTypeName = { KEYWORD: 'Keyword', DOUBLE: 'Double', INT: 'Int', BOOL: 'Bool', TEXT: 'Text', DATETIME: 'Datetime', KEYWORD_LIST: 'KeywordList' } as const;

/**
 * The dev server tuned for one node (figures from INFRA-FACTS and bench/results, 2 cores):
 * - The history service reads its transfer queue at most `transferProcessorMaxPollRPS` times a
 *   second per shard (default 20) and the dev server has one shard: every task dispatch waited
 *   about 45 ms. 1000 takes that wait away (bare workflow p50 350 ms → 60–77 ms).
 * - Eager activity execution hands the first activity to the worker that completes the workflow
 *   task, without a round trip through matching.
 * - SQLite in WAL mode with `synchronous=normal` commits without an fsync per transaction: about
 *   2.4 times the workflows per second of the default rollback journal. A power cut may lose the
 *   last transactions of a dev server, never corrupt it.
 */
export const devServerTuning: [string, string][] = [
  ['--dynamic-config-value', 'history.transferProcessorMaxPollRPS=1000'],
  ['--dynamic-config-value', 'system.enableActivityEagerExecution=true'],
  ['--sqlite-pragma', 'journal_mode=wal'],
  ['--sqlite-pragma', 'synchronous=normal'],
];

export function temporalService({ config, tools }: ServiceContext): Service {
  const temporal = config.temporal;
  const home = path.join(config.stack.stateDir, 'temporal');
  const dbFile = path.join(home, 'temporal.db');

  return {
    name: 'temporal',
    ports: [
      { host: temporal.host, port: temporal.port, env: 'TEMPORAL_PORT' },
      { host: temporal.host, port: temporal.uiPort, env: 'TEMPORAL_UI_PORT' },
    ],
    async prepare() {
      fs.mkdirSync(home, { recursive: true });
    },
    launch: () => ({
      command: tools.temporal,
      args: [
        'server', 'start-dev',
        '--ip', temporal.host,
        '--port', String(temporal.port),
        '--ui-port', String(temporal.uiPort),
        '--db-filename', dbFile,
        '--namespace', temporal.namespace,
        '--log-level', 'warn',
        ...devServerTuning.flatMap(([flag, value]) => [flag, value]),
        ...orderSearchAttributes.flatMap((key) => ['--search-attribute', `${key.name}=${cliTypeName[key.type]}`]),
      ],
      marker: dbFile,
    }),
    stopSignal: 'SIGTERM',
    async ready() {
      const connection = await Connection.connect({ address: temporal.address, connectTimeout: 1000 });
      try {
        await connection.workflowService.describeNamespace({ namespace: temporal.namespace });
        const ui = await fetch(temporal.uiUrl, { signal: AbortSignal.timeout(2000) });
        return ui.ok;
      } finally {
        await connection.close();
      }
    },
    readyTimeoutMs: 60_000,
    urls: [`grpc://${temporal.address}`, temporal.uiUrl],
  };
}
