import os from 'node:os';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseEnv } from 'node:util';
import { z } from 'zod';
import { temporalConnectionOptions } from './temporal-connection.js';

/** The repository's root: the stack keeps its state below it unless told otherwise. */
export const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const port = z.coerce.number().int().min(1).max(65535);
/** A port to listen on, or 0 for none. */
const optionalPort = z.coerce.number().int().min(0).max(65535);

/** An unset variable and an empty one mean the same (a ConfigMap often carries empty keys). */
const optionalString = z.preprocess((value) => (value === '' ? undefined : value), z.string().optional());
const optionalBoolean = z.preprocess(
  (value) => (value === '' ? undefined : value),
  z.enum(['true', 'false', '1', '0']).transform((value) => value === 'true' || value === '1').optional(),
);

/** Addresses and networks as proxy-addr (Fastify's trustProxy) reads them, with its named ranges. */
const proxyAddress = z.union([z.ipv4(), z.ipv6(), z.cidrv4(), z.cidrv6(), z.enum(['loopback', 'linklocal', 'uniquelocal'])]);

/**
 * Which proxies may say who the client is in X-Forwarded-For: none (the default: the socket's
 * peer is the client), or the load balancers' addresses and CIDRs. Never "all" nor a hop count,
 * which would let a client that reaches the API directly choose its address, and with it its
 * rate-limit bucket.
 */
const trustProxy = z
  .string()
  .trim()
  .default('')
  .transform((value, ctx): false | string[] => {
    if (value === '') return false;
    const entries = value.split(',').map((entry) => entry.trim());
    const invalid = entries.filter((entry) => !proxyAddress.safeParse(entry).success);
    if (invalid.length) {
      ctx.addIssue({ code: 'custom', message: `a comma-separated list of IP addresses and CIDRs, not ${invalid.join(', ')}` });
      return z.NEVER;
    }
    return entries;
  });

const DEV_JWT_SECRET = 'dev-only-jwt-secret-never-use-in-production';
const DEV_PAYMENT_WEBHOOK_SECRET = 'whsec_dev_only_never_use_in_production';

/**
 * Every setting the system reads, with the environment variable that sets it. Each default works
 * on the local stack; the secrets' defaults are for development only and are refused in production.
 */
const schema = z
  .object({
    NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),

    /** How long a process may take to close on SIGTERM before it exits anyway (the worker adds its grace time). */
    SHUTDOWN_DEADLINE_SECONDS: z.coerce.number().int().positive().default(10),

    STACK_STATE_DIR: z.string().default(path.join(projectRoot, '.stack')),
    STACK_CACHE_DIR: z
      .string()
      .default(path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'order-saga')),
    /** Whether the local stack runs Zipkin (`--traces`), and npm start sends the processes' spans to it. */
    STACK_TRACES: z.stringbool().default(false),
    /** Zipkin's one port: its span intake, API and UI (the default OTEL_EXPORTER_ZIPKIN_ENDPOINT). */
    ZIPKIN_PORT: port.default(9411),

    POSTGRES_HOST: z.string().default('127.0.0.1'),
    POSTGRES_PORT: port.default(55432),
    POSTGRES_USER: z.string().default('order_saga'),
    POSTGRES_PASSWORD: z.string().default('order_saga_dev_only'),
    POSTGRES_DB: z.string().default('order_saga'),
    DATABASE_URL: z.string().optional(),
    /** Connections each process keeps to PostgreSQL: one pool, shared by Prisma and the plain SQL of the hot paths. */
    POSTGRES_POOL_SIZE: z.coerce.number().int().positive().default(10),

    /** Where the local stack's Temporal server listens, and the address clients use unless TEMPORAL_ADDRESS says otherwise. */
    TEMPORAL_HOST: z.string().default('127.0.0.1'),
    TEMPORAL_PORT: port.default(7233),
    TEMPORAL_UI_PORT: port.default(8233),
    TEMPORAL_NAMESPACE: z.string().default('default'),
    /**
     * Temporal's environment configuration (config/temporal-connection.ts): the frontend's host:port,
     * an API key (Temporal Cloud; turns TLS on), TLS on or off, mTLS files or PEM text, the server's CA
     * and name.
     */
    TEMPORAL_ADDRESS: optionalString,
    TEMPORAL_API_KEY: optionalString,
    TEMPORAL_TLS: optionalBoolean,
    TEMPORAL_TLS_CLIENT_CERT_PATH: optionalString,
    TEMPORAL_TLS_CLIENT_CERT_DATA: optionalString,
    TEMPORAL_TLS_CLIENT_KEY_PATH: optionalString,
    TEMPORAL_TLS_CLIENT_KEY_DATA: optionalString,
    TEMPORAL_TLS_SERVER_CA_CERT_PATH: optionalString,
    TEMPORAL_TLS_SERVER_CA_CERT_DATA: optionalString,
    TEMPORAL_TLS_SERVER_NAME: optionalString,
    TEMPORAL_TASK_QUEUE: z.string().default('order-saga'),
    /** Which Temporal the local stack runs: the CLI's dev server (SQLite, Web UI) or the production server on PostgreSQL. */
    TEMPORAL_SERVER: z.enum(['dev', 'server']).default('dev'),
    /** The production server's history shards; fixed at its first start (stored in its database). */
    TEMPORAL_HISTORY_SHARDS: z.coerce.number().int().positive().default(4),

    KAFKA_HOST: z.string().default('127.0.0.1'),
    KAFKA_PORT: port.default(9092),
    KAFKA_CONTROLLER_PORT: port.default(9093),
    /**
     * Nodes of the local Kafka cluster (`npm run stack -- up --scale`: 3), each a combined broker and
     * controller; node n listens on KAFKA_PORT + 2(n-1) and KAFKA_CONTROLLER_PORT + 2(n-1).
     */
    KAFKA_NODES: z.coerce.number().int().min(1).max(9).default(1),
    KAFKA_BROKERS: z.string().optional(),
    KAFKA_CLIENT_ID: z.string().default('order-saga'),
    /** Put before every topic and consumer group name: lets test runs (or tenants) share one cluster. */
    KAFKA_TOPIC_PREFIX: z.string().regex(/^[\w.-]*$/).default(''),
    /** Default: as many as the local cluster has nodes, at most 3 (1 on the local single broker); 3 in production. */
    KAFKA_REPLICATION_FACTOR: z.coerce.number().int().positive().optional(),
    /**
     * Replicas that must have a write before the broker acknowledges it (acks=all), set on every topic
     * the system creates. Default: one fewer than the replication factor (2 of 3), at least 1.
     */
    KAFKA_MIN_INSYNC_REPLICAS: z.coerce.number().int().positive().optional(),

    /** The outbox relay: rows claimed per transaction, and how often it looks when no NOTIFY wakes it. */
    RELAY_BATCH_SIZE: z.coerce.number().int().positive().default(100),
    RELAY_POLL_INTERVAL_MS: z.coerce.number().int().positive().default(1_000),

    /** Subscribers: attempts at one event before it goes to <topic>.dlq, with backoff as the seed's retry policy. */
    SUBSCRIBER_MAX_ATTEMPTS: z.coerce.number().int().positive().default(3),
    SUBSCRIBER_RETRY_INITIAL_MS: z.coerce.number().int().nonnegative().default(1_000),
    SUBSCRIBER_RETRY_MAX_MS: z.coerce.number().int().nonnegative().default(10_000),

    /** The notification subscriber's mail: SMTP when SMTP_URL is set, else files in MAIL_DIR (dev). */
    SMTP_URL: z.string().optional(),
    MAIL_FROM: z.string().default('Order Saga <orders@order-saga.local>'),
    MAIL_DIR: z.string().default(path.join(projectRoot, '.stack', 'mail')),
    /** Users are known by id only: mail goes to <user id>@MAIL_RECIPIENT_DOMAIN unless the id is an address. */
    MAIL_RECIPIENT_DOMAIN: z.string().default('example.com'),

    WORKER_MAX_CONCURRENT_ACTIVITIES: z.coerce.number().int().positive().default(50),
    WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: z.coerce.number().int().positive().default(40),
    /** On SIGTERM, how long running activities may take to finish before they are cancelled. */
    WORKER_SHUTDOWN_GRACE_SECONDS: z.coerce.number().int().nonnegative().default(30),
    /**
     * The housekeeping schedule the worker keeps: how often it runs, and how long an order may stay
     * pending (its request normally starts its saga within a second) before the schedule starts its saga.
     */
    HOUSEKEEPING_INTERVAL_SECONDS: z.coerce.number().int().positive().default(60),
    HOUSEKEEPING_PENDING_GRACE_SECONDS: z.coerce.number().int().nonnegative().default(60),
    /** The prebuilt workflow bundle (npm run build:workflows); required in production. */
    WORKFLOW_BUNDLE_PATH: z.string().default(path.join(projectRoot, 'dist', 'workflow-bundle.js')),

    /** The payment provider's API. Dev and tests: the fake provider that `npm start` runs (Stripe test mode). */
    PAYMENT_PROVIDER_URL: z.url().default('http://127.0.0.1:4010'),

    API_HOST: z.string().default('127.0.0.1'),
    API_PORT: port.default(3000),
    /** Reported by GET /health. */
    API_SERVICE_NAME: z.string().default('order-api'),
    API_BODY_LIMIT_BYTES: z.coerce.number().int().positive().default(64 * 1024),
    /** Comma-separated allowed origins, or `*` (tokens travel in headers, never cookies). */
    API_CORS_ORIGINS: z.string().default('*'),
    /** Seed §7: signed-in users, and the public catalog. */
    API_RATE_LIMIT_USER_PER_MINUTE: z.coerce.number().int().positive().default(100),
    API_RATE_LIMIT_PRODUCTS_PER_MINUTE: z.coerce.number().int().positive().default(1000),
    /** The load balancers in front of the API, whose X-Forwarded-For names the client that rate limits count. */
    API_TRUST_PROXY: trustProxy,
    /** Circuit breakers (seed §1) around Temporal and PostgreSQL. */
    API_BREAKER_FAILURE_THRESHOLD: z.coerce.number().int().positive().default(5),
    API_BREAKER_RESET_MS: z.coerce.number().int().positive().default(30_000),
    /** How long one call to Temporal or PostgreSQL may take before it counts as a failure. */
    API_DEPENDENCY_TIMEOUT_MS: z.coerce.number().int().positive().default(3_000),
    /** How long a repeated Idempotency-Key waits for the first request to finish. */
    API_IDEMPOTENCY_WAIT_MS: z.coerce.number().int().positive().default(10_000),
    /** A repeated Idempotency-Key takes over a claim this old that never answered (its request's process died). */
    API_IDEMPOTENCY_ABANDONED_MS: z.coerce.number().int().positive().default(60_000),

    /** HS256 secret; ignored when JWT_JWKS_URL is set (RS256 keys from the JWKS). */
    JWT_SECRET: z.string().min(32).default(DEV_JWT_SECRET),
    JWT_JWKS_URL: z.url().optional(),
    /** When set, a token must carry this `iss` and `aud`; both are required in production. */
    JWT_ISSUER: z.string().optional(),
    JWT_AUDIENCE: z.string().optional(),

    PAYMENT_WEBHOOK_SECRET: z.string().min(16).default(DEV_PAYMENT_WEBHOOK_SECRET),
    /** A webhook signed longer ago than this is refused (replay protection). */
    PAYMENT_WEBHOOK_TOLERANCE_SECONDS: z.coerce.number().int().positive().default(300),

    /** Where each process sends its spans: nowhere (context still propagates), stdout, an OTLP/HTTP collector, or Zipkin. */
    OTEL_TRACES_EXPORTER: z.enum(['none', 'console', 'otlp', 'zipkin']).default('none'),
    /** The collector's OTLP/HTTP base URL; spans go to `<endpoint>/v1/traces`. */
    OTEL_EXPORTER_OTLP_ENDPOINT: z.url().default('http://127.0.0.1:4318'),
    /** Where the `zipkin` exporter posts its spans; by default the local stack's Zipkin. */
    OTEL_EXPORTER_ZIPKIN_ENDPOINT: z.url().optional(),
    /** `service.namespace` of every process's spans; each process names its own service (order-api, order-worker…). */
    OTEL_SERVICE_NAMESPACE: z.string().min(1).default('order-saga'),

    /**
     * Where each process serves its Prometheus `/metrics`: the address, and one port per process
     * (0: no endpoint). The defaults sit beside the OpenTelemetry Prometheus exporter's 9464, clear of the stack's ports.
     */
    METRICS_HOST: z.string().default('127.0.0.1'),
    API_METRICS_PORT: optionalPort.default(9464),
    WORKER_METRICS_PORT: optionalPort.default(9465),
    RELAY_METRICS_PORT: optionalPort.default(9466),
    SUBSCRIBERS_METRICS_PORT: optionalPort.default(9467),
    /** The Temporal SDK's own Prometheus endpoint, on loopback only: the worker's `/metrics` serves its series with its own. */
    WORKER_TEMPORAL_METRICS_PORT: port.default(9468),
  })
  .superRefine((env, ctx) => {
    if (env.KAFKA_MIN_INSYNC_REPLICAS !== undefined && env.KAFKA_MIN_INSYNC_REPLICAS > (env.KAFKA_REPLICATION_FACTOR ?? Math.min(3, env.KAFKA_NODES))) {
      ctx.addIssue({
        code: 'custom',
        path: ['KAFKA_MIN_INSYNC_REPLICAS'],
        message: 'cannot exceed KAFKA_REPLICATION_FACTOR: the topics would refuse every write',
      });
    }
    if (env.NODE_ENV !== 'production') return;
    if (env.JWT_SECRET === DEV_JWT_SECRET && !env.JWT_JWKS_URL) {
      ctx.addIssue({ code: 'custom', path: ['JWT_SECRET'], message: 'set JWT_SECRET or JWT_JWKS_URL in production' });
    }
    // A token minted for another service sharing the key must not open this API.
    for (const name of ['JWT_ISSUER', 'JWT_AUDIENCE'] as const) {
      if (!env[name]) ctx.addIssue({ code: 'custom', path: [name], message: `set ${name} in production` });
    }
    if (env.PAYMENT_WEBHOOK_SECRET === DEV_PAYMENT_WEBHOOK_SECRET) {
      ctx.addIssue({ code: 'custom', path: ['PAYMENT_WEBHOOK_SECRET'], message: 'set PAYMENT_WEBHOOK_SECRET in production' });
    }
  })
  .transform((env, ctx) => {
    const temporalConnection = temporalConnectionOptions(env, ctx);
    const kafkaNodes = Array.from({ length: env.KAFKA_NODES }, (_, i) => ({
      id: i + 1,
      port: env.KAFKA_PORT + 2 * i,
      controllerPort: env.KAFKA_CONTROLLER_PORT + 2 * i,
    }));
    const replicationFactor = env.KAFKA_REPLICATION_FACTOR ?? Math.min(3, env.KAFKA_NODES);
    const zipkinSpansUrl = `http://127.0.0.1:${env.ZIPKIN_PORT}/api/v2/spans`;
    const databaseUrl =
      env.DATABASE_URL ??
      `postgresql://${encodeURIComponent(env.POSTGRES_USER)}:${encodeURIComponent(env.POSTGRES_PASSWORD)}` +
        `@${env.POSTGRES_HOST}:${env.POSTGRES_PORT}/${env.POSTGRES_DB}`;
    return {
      env: env.NODE_ENV,
      logLevel: env.LOG_LEVEL,
      shutdownDeadlineMs: env.SHUTDOWN_DEADLINE_SECONDS * 1000,
      stack: { stateDir: path.resolve(env.STACK_STATE_DIR), cacheDir: path.resolve(env.STACK_CACHE_DIR), traces: env.STACK_TRACES },
      zipkin: {
        host: '127.0.0.1',
        port: env.ZIPKIN_PORT,
        url: `http://127.0.0.1:${env.ZIPKIN_PORT}`,
        uiUrl: `http://127.0.0.1:${env.ZIPKIN_PORT}/zipkin/`,
        spansUrl: zipkinSpansUrl,
      },
      postgres: {
        host: env.POSTGRES_HOST,
        port: env.POSTGRES_PORT,
        user: env.POSTGRES_USER,
        password: env.POSTGRES_PASSWORD,
        database: env.POSTGRES_DB,
        url: databaseUrl,
        poolSize: env.POSTGRES_POOL_SIZE,
      },
      temporal: {
        host: env.TEMPORAL_HOST,
        port: env.TEMPORAL_PORT,
        /** Where clients connect: Connection.connect(connection), NativeConnection.connect(connection). */
        connection: temporalConnection,
        address: temporalConnection.address,
        /** Where the local stack's server listens (stack/): TEMPORAL_HOST:TEMPORAL_PORT. */
        localAddress: `${env.TEMPORAL_HOST}:${env.TEMPORAL_PORT}`,
        uiPort: env.TEMPORAL_UI_PORT,
        uiUrl: `http://${env.TEMPORAL_HOST}:${env.TEMPORAL_UI_PORT}`,
        namespace: env.TEMPORAL_NAMESPACE,
        taskQueue: env.TEMPORAL_TASK_QUEUE,
        server: env.TEMPORAL_SERVER,
        historyShards: env.TEMPORAL_HISTORY_SHARDS,
      },
      kafka: {
        host: env.KAFKA_HOST,
        port: env.KAFKA_PORT,
        controllerPort: env.KAFKA_CONTROLLER_PORT,
        nodes: kafkaNodes,
        brokers: (env.KAFKA_BROKERS ?? kafkaNodes.map((node) => `${env.KAFKA_HOST}:${node.port}`).join(',')).split(',').map((b) => b.trim()),
        clientId: env.KAFKA_CLIENT_ID,
        topicPrefix: env.KAFKA_TOPIC_PREFIX,
        replicationFactor,
        minInsyncReplicas: env.KAFKA_MIN_INSYNC_REPLICAS ?? Math.max(1, replicationFactor - 1),
      },
      relay: { batchSize: env.RELAY_BATCH_SIZE, pollIntervalMs: env.RELAY_POLL_INTERVAL_MS },
      subscribers: {
        maxAttempts: env.SUBSCRIBER_MAX_ATTEMPTS,
        retryInitialMs: env.SUBSCRIBER_RETRY_INITIAL_MS,
        retryMaxMs: env.SUBSCRIBER_RETRY_MAX_MS,
      },
      mail: {
        smtpUrl: env.SMTP_URL,
        from: env.MAIL_FROM,
        dir: path.resolve(env.MAIL_DIR),
        recipientDomain: env.MAIL_RECIPIENT_DOMAIN,
      },
      worker: {
        maxConcurrentActivities: env.WORKER_MAX_CONCURRENT_ACTIVITIES,
        maxConcurrentWorkflowTasks: env.WORKER_MAX_CONCURRENT_WORKFLOW_TASKS,
        shutdownGraceSeconds: env.WORKER_SHUTDOWN_GRACE_SECONDS,
        workflowBundlePath: path.resolve(env.WORKFLOW_BUNDLE_PATH),
        housekeeping: {
          intervalSeconds: env.HOUSEKEEPING_INTERVAL_SECONDS,
          pendingGraceMs: env.HOUSEKEEPING_PENDING_GRACE_SECONDS * 1000,
        },
      },
      paymentProvider: { url: env.PAYMENT_PROVIDER_URL },
      api: {
        host: env.API_HOST,
        port: env.API_PORT,
        url: `http://${env.API_HOST}:${env.API_PORT}`,
        serviceName: env.API_SERVICE_NAME,
        bodyLimitBytes: env.API_BODY_LIMIT_BYTES,
        corsOrigins: env.API_CORS_ORIGINS.split(',').map((o) => o.trim()).filter(Boolean),
        rateLimit: {
          userPerMinute: env.API_RATE_LIMIT_USER_PER_MINUTE,
          productsPerMinute: env.API_RATE_LIMIT_PRODUCTS_PER_MINUTE,
        },
        trustProxy: env.API_TRUST_PROXY,
        breaker: { failureThreshold: env.API_BREAKER_FAILURE_THRESHOLD, resetMs: env.API_BREAKER_RESET_MS },
        dependencyTimeoutMs: env.API_DEPENDENCY_TIMEOUT_MS,
        idempotencyWaitMs: env.API_IDEMPOTENCY_WAIT_MS,
        idempotencyAbandonedAfterMs: env.API_IDEMPOTENCY_ABANDONED_MS,
      },
      jwt: {
        secret: env.JWT_SECRET,
        jwksUrl: env.JWT_JWKS_URL,
        issuer: env.JWT_ISSUER || undefined,
        audience: env.JWT_AUDIENCE || undefined,
      },
      paymentWebhook: {
        secret: env.PAYMENT_WEBHOOK_SECRET,
        toleranceSeconds: env.PAYMENT_WEBHOOK_TOLERANCE_SECONDS,
      },
      telemetry: {
        exporter: env.OTEL_TRACES_EXPORTER,
        otlpTracesUrl: `${env.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/+$/, '')}/v1/traces`,
        zipkinSpansUrl: env.OTEL_EXPORTER_ZIPKIN_ENDPOINT ?? zipkinSpansUrl,
        serviceNamespace: env.OTEL_SERVICE_NAMESPACE,
      },
      metrics: {
        host: env.METRICS_HOST,
        ports: {
          api: env.API_METRICS_PORT,
          worker: env.WORKER_METRICS_PORT,
          relay: env.RELAY_METRICS_PORT,
          subscribers: env.SUBSCRIBERS_METRICS_PORT,
        },
        temporalPort: env.WORKER_TEMPORAL_METRICS_PORT,
      },
    };
  });

export type Config = z.output<typeof schema>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * Adds the settings of a `.env` file (the repository's by default) to `env`, as `process.loadEnvFile`
 * does: a variable already set wins, and a missing file adds nothing.
 */
export function applyEnvFile(env: NodeJS.ProcessEnv, file = path.join(projectRoot, '.env')): void {
  if (!fs.existsSync(file)) return;
  for (const [name, value] of Object.entries(parseEnv(fs.readFileSync(file, 'utf8')))) {
    if (env[name] === undefined) env[name] = value;
  }
}

/**
 * Reads and validates the configuration from an environment: the process's by default, with the
 * repository's `.env` under it.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  if (env === process.env) applyEnvFile(env);
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new ConfigError(`invalid configuration: ${problems}`);
  }
  return parsed.data;
}
