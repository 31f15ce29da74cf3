import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time.js';
import proto from '@temporalio/proto';
import { stringify as stringifyYaml } from 'yaml';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import type { Config } from '../config/index.js';
import { orderSearchAttributes } from '../workflows/search-attributes.js';
import type { DetachedSpec } from './processes.js';
import { run, StackError, waitUntil } from './processes.js';
import type { ToolPaths } from './tools.js';

export interface PortUse {
  host: string;
  port: number;
  /** The variable that moves it elsewhere, named in the error when the port is taken. */
  env: string;
}

/** One server of the local stack: how to prepare its state, start it, and know that it answers. */
export interface Service {
  name: 'postgres' | KafkaNodeName | 'temporal' | 'zipkin';
  ports: PortUse[];
  /** One-time (and then idempotent) preparation of its state directory. */
  prepare(): Promise<void>;
  launch(): Omit<DetachedSpec, 'pidFile' | 'logFile'>;
  stopSignal: NodeJS.Signals;
  ready(): Promise<boolean>;
  readyTimeoutMs: number;
  /** Started together with the service after it, and waited for with it (the nodes of a cluster). */
  awaitWithNext?: boolean;
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

/** The name of Kafka node `id` as a stack service: `kafka` for the first (the single-node stack's), `kafka-<id>` after. */
export function kafkaNodeName(id: number): KafkaNodeName {
  return id === 1 ? 'kafka' : `kafka-${id}`;
}

export type KafkaNodeName = 'kafka' | `kafka-${number}`;

/**
 * One node of the local Kafka cluster, a combined broker and controller in KRaft mode. With one
 * node, the single broker of the default stack; with three (`--scale`), a cluster whose internal
 * topics are replicated three times with two in sync, so that it keeps taking writes while any one
 * node is down. Its nodes share one cluster id (written once in the state directory).
 */
export function kafkaService({ config, tools, logDir }: ServiceContext, nodeId = 1): Service {
  const kafka = config.kafka;
  const node = kafka.nodes[nodeId - 1]!;
  const clustered = kafka.nodes.length > 1;
  const home = path.join(config.stack.stateDir, clustered ? `kafka-cluster/node-${nodeId}` : 'kafka');
  const dataDir = path.join(home, 'data');
  const properties = path.join(home, 'server.properties');
  const log4j = path.join(home, 'log4j.properties');
  const java = ['-cp', `${tools.kafkaLib}/*`];
  const internalReplicas = Math.min(3, kafka.nodes.length);
  const name = kafkaNodeName(nodeId);

  return {
    name,
    ports: [
      { host: kafka.host, port: node.port, env: 'KAFKA_PORT' },
      { host: kafka.host, port: node.controllerPort, env: 'KAFKA_CONTROLLER_PORT' },
    ],
    async prepare() {
      fs.mkdirSync(dataDir, { recursive: true });
      fs.writeFileSync(
        properties,
        [
          'process.roles=broker,controller',
          `node.id=${nodeId}`,
          `controller.quorum.voters=${kafka.nodes.map((n) => `${n.id}@${kafka.host}:${n.controllerPort}`).join(',')}`,
          `listeners=PLAINTEXT://${kafka.host}:${node.port},CONTROLLER://${kafka.host}:${node.controllerPort}`,
          `advertised.listeners=PLAINTEXT://${kafka.host}:${node.port}`,
          'controller.listener.names=CONTROLLER',
          'inter.broker.listener.name=PLAINTEXT',
          'listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
          `log.dirs=${dataDir}`,
          'num.partitions=1',
          `offsets.topic.replication.factor=${internalReplicas}`,
          'offsets.topic.num.partitions=6',
          `transaction.state.log.replication.factor=${internalReplicas}`,
          `transaction.state.log.min.isr=${Math.max(1, internalReplicas - 1)}`,
          `default.replication.factor=${kafka.replicationFactor}`,
          `min.insync.replicas=${kafka.minInsyncReplicas}`,
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
      const clusterIdFile = path.join(config.stack.stateDir, clustered ? 'kafka-cluster/cluster-id' : 'kafka/cluster-id');
      if (!fs.existsSync(clusterIdFile)) fs.writeFileSync(clusterIdFile, randomBytes(16).toString('base64url'));
      const clusterId = fs.readFileSync(clusterIdFile, 'utf8').trim();
      await run('java', [...java, 'kafka.tools.StorageTool', 'format', '-t', clusterId, '-c', properties, '--ignore-formatted'], {
        logFile: path.join(logDir, `${name}-format.log`),
      });
    },
    launch: () => ({
      command: 'java',
      args: [
        clustered ? '-Xms128m' : '-Xms256m', clustered ? '-Xmx512m' : '-Xmx768m', '-XX:+UseG1GC', '-Djava.awt.headless=true',
        `-Dlog4j.configuration=file:${log4j}`,
        `-Dkafka.logs.dir=${logDir}`,
        ...java, 'kafka.Kafka', properties,
      ],
      marker: properties,
    }),
    stopSignal: 'SIGTERM',
    // A cluster's controllers elect a leader only once most of them run: start them all, then wait.
    awaitWithNext: clustered && nodeId < kafka.nodes.length,
    async ready() {
      const admin = new Kafka({
        clientId: 'order-saga-stack',
        brokers: [`${kafka.host}:${node.port}`],
        logLevel: logLevel.NOTHING,
        connectionTimeout: 1000,
        retry: { retries: 0 },
      }).admin();
      try {
        await admin.connect();
        const cluster = await admin.describeCluster();
        return cluster.controller !== null && cluster.brokers.some((b) => b.nodeId === nodeId);
      } finally {
        await admin.disconnect().catch(() => undefined);
      }
    },
    readyTimeoutMs: 60_000,
    urls: [`kafka://${kafka.host}:${node.port}`],
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

export function temporalService(context: ServiceContext): Service {
  return context.config.temporal.server === 'server' ? temporalProductionService(context) : temporalDevService(context);
}

/** Registers the saga's search attributes (a server that has them already answers AlreadyExists). */
async function addSearchAttributes(connection: Connection, namespace: string): Promise<void> {
  const existing = await connection.operatorService.listSearchAttributes({ namespace });
  const missing = orderSearchAttributes.filter((key) => !existing.customAttributes?.[key.name]);
  if (!missing.length) return;
  await connection.operatorService.addSearchAttributes({
    namespace,
    searchAttributes: Object.fromEntries(missing.map((key) => [key.name, proto.temporal.api.enums.v1.IndexedValueType[`INDEXED_VALUE_TYPE_${key.type}`]])),
  });
}

/**
 * The production Temporal server (TEMPORAL_SERVER=server) on the stack's PostgreSQL, in databases
 * of its own (`temporal`, `temporal_visibility`), with the same tuning as the dev server and
 * TEMPORAL_HISTORY_SHARDS shards. It has no Web UI: use the dev server to look at sagas.
 */
function temporalProductionService({ config, tools, logDir }: ServiceContext): Service {
  const t = config.temporal;
  const pgConfig = config.postgres;
  const server = tools.temporalServer;
  const home = path.join(config.stack.stateDir, 'temporal-server');
  const configDir = path.join(home, 'config');
  // Each service has a gRPC and a membership port; they sit beside the frontend's, as in Temporal's own configs.
  const port = { frontend: t.port, history: t.port + 1, matching: t.port + 2, worker: t.port + 6, http: t.port + 10, membership: t.port - 300 };
  const sqlTool = (database: string, ...command: string[]) =>
    run(
      server!.sqlTool,
      ['--plugin', 'postgres12', '--ep', pgConfig.host, '-p', String(pgConfig.port), '-u', pgConfig.user, '--pw', pgConfig.password, '--db', database, ...command],
      { logFile: path.join(logDir, 'temporal-schema.log') },
    );
  const datastore = (database: string, maxConns: number) => ({
    sql: {
      pluginName: 'postgres12',
      databaseName: database,
      connectAddr: `${pgConfig.host}:${pgConfig.port}`,
      connectProtocol: 'tcp',
      user: pgConfig.user,
      password: pgConfig.password,
      maxConns,
      maxIdleConns: maxConns,
      maxConnLifetime: '1h',
    },
  });
  const rpc = (grpcPort: number, membershipPort: number) => ({ rpc: { grpcPort, membershipPort, bindOnIP: t.host } });

  return {
    name: 'temporal',
    ports: [{ host: t.host, port: t.port, env: 'TEMPORAL_PORT' }],
    async prepare() {
      if (!server) throw new StackError('the Temporal server was not built; run the stack with TEMPORAL_SERVER=server');
      fs.mkdirSync(configDir, { recursive: true });
      const stamp = path.join(home, '.schema-created');
      for (const [database, schema] of [['temporal', 'temporal'], ['temporal_visibility', 'visibility']] as const) {
        if (!fs.existsSync(stamp)) {
          await sqlTool(database, 'create-database').catch(() => undefined);
          await sqlTool(database, 'setup-schema', '-v', '0.0');
        }
        await sqlTool(database, 'update-schema', '-d', path.join(server.schemaDir, schema, 'versioned'));
      }
      fs.writeFileSync(stamp, new Date().toISOString());
      const dynamicConfig = path.join(configDir, 'dynamicconfig.yaml');
      fs.writeFileSync(
        dynamicConfig,
        stringifyYaml({
          'history.transferProcessorMaxPollRPS': [{ value: 1000 }],
          'system.enableActivityEagerExecution': [{ value: true }],
          'frontend.enableUpdateWorkflowExecution': [{ value: true }],
        }),
      );
      fs.writeFileSync(
        path.join(configDir, 'stack.yaml'),
        stringifyYaml({
          log: { stdout: true, level: 'warn' },
          persistence: {
            defaultStore: 'default',
            visibilityStore: 'visibility',
            numHistoryShards: t.historyShards,
            datastores: { default: datastore('temporal', 20), visibility: datastore('temporal_visibility', 4) },
          },
          global: { membership: { maxJoinDuration: '30s', broadcastAddress: t.host } },
          services: {
            frontend: { rpc: { ...rpc(port.frontend, port.membership).rpc, httpPort: port.http } },
            history: rpc(port.history, port.membership + 1),
            matching: rpc(port.matching, port.membership + 2),
            worker: rpc(port.worker, port.membership + 6),
          },
          clusterMetadata: {
            enableGlobalNamespace: false,
            failoverVersionIncrement: 10,
            masterClusterName: 'active',
            currentClusterName: 'active',
            clusterInformation: { active: { enabled: true, initialFailoverVersion: 1, rpcName: 'frontend', rpcAddress: t.localAddress } },
          },
          dcRedirectionPolicy: { policy: 'noop' },
          dynamicConfigClient: { filepath: dynamicConfig, pollInterval: '10s' },
        }),
      );
    },
    launch: () => ({
      command: server!.server,
      args: ['--root', home, '--config', 'config', '--env', 'stack', '--allow-no-auth', 'start'],
      marker: home,
    }),
    stopSignal: 'SIGTERM',
    async ready() {
      const connection = await Connection.connect({ address: t.localAddress, connectTimeout: 1000 });
      try {
        await connection.workflowService.getSystemInfo({});
        return true;
      } finally {
        await connection.close();
      }
    },
    readyTimeoutMs: 120_000,
    async afterReady() {
      const connection = await Connection.connect({ address: t.localAddress });
      try {
        const known = await connection.workflowService.describeNamespace({ namespace: t.namespace }).then(
          () => true,
          () => false,
        );
        if (!known) {
          await connection.workflowService.registerNamespace({ namespace: t.namespace, workflowExecutionRetentionPeriod: msToTs('3 days') });
        }
        // A new namespace reaches every service's cache within about ten seconds.
        await waitUntil('the Temporal namespace', () => addSearchAttributes(connection, t.namespace).then(() => true, () => false), 60_000, 'see the temporal log');
      } finally {
        await connection.close();
      }
    },
    urls: [`grpc://${t.localAddress}`],
  };
}

function temporalDevService({ config, tools }: ServiceContext): Service {
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
      const connection = await Connection.connect({ address: temporal.localAddress, connectTimeout: 1000 });
      try {
        await connection.workflowService.describeNamespace({ namespace: temporal.namespace });
        const ui = await fetch(temporal.uiUrl, { signal: AbortSignal.timeout(2000) });
        return ui.ok;
      } finally {
        await connection.close();
      }
    },
    readyTimeoutMs: 60_000,
    urls: [`grpc://${temporal.localAddress}`, temporal.uiUrl],
  };
}

/**
 * Zipkin's server: spans in over its HTTP API (POST /api/v2/spans), kept in memory (gone when it
 * stops), served by its API and its UI at /zipkin/, all on one port. Its JVM's temporary files go
 * to its state directory, which also tells its process apart.
 */
export function zipkinService({ config, tools }: ServiceContext): Service {
  const z = config.zipkin;
  const home = path.join(config.stack.stateDir, 'zipkin');
  return {
    name: 'zipkin',
    ports: [{ host: z.host, port: z.port, env: 'ZIPKIN_PORT' }],
    async prepare() {
      fs.mkdirSync(home, { recursive: true });
    },
    launch: () => ({
      command: 'java',
      args: ['-Xmx256m', '-XX:TieredStopAtLevel=1', `-Djava.io.tmpdir=${home}`, '-jar', tools.zipkin],
      env: { ...process.env, QUERY_PORT: String(z.port) },
      marker: home,
    }),
    stopSignal: 'SIGTERM',
    async ready() {
      const response = await fetch(`${z.url}/health`, { signal: AbortSignal.timeout(2000) });
      return response.ok;
    },
    readyTimeoutMs: 120_000,
    urls: [z.uiUrl, `spans ${z.spansUrl}`],
  };
}
