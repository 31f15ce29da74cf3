import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

/** The repository's root: the stack keeps its state below it unless told otherwise. */
export const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const port = z.coerce.number().int().min(1).max(65535);

/**
 * Every setting the system reads, with the environment variable that sets it. Each default works
 * on the local stack; the secrets' defaults are for development only and are refused in production.
 */
const schema = z
  .object({
    NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),

    STACK_STATE_DIR: z.string().default(path.join(projectRoot, '.stack')),
    STACK_CACHE_DIR: z
      .string()
      .default(path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'order-saga')),

    POSTGRES_HOST: z.string().default('127.0.0.1'),
    POSTGRES_PORT: port.default(55432),
    POSTGRES_USER: z.string().default('order_saga'),
    POSTGRES_PASSWORD: z.string().default('order_saga_dev_only'),
    POSTGRES_DB: z.string().default('order_saga'),
    DATABASE_URL: z.string().optional(),

    TEMPORAL_HOST: z.string().default('127.0.0.1'),
    TEMPORAL_PORT: port.default(7233),
    TEMPORAL_UI_PORT: port.default(8233),
    TEMPORAL_NAMESPACE: z.string().default('default'),
    TEMPORAL_TASK_QUEUE: z.string().default('order-saga'),

    KAFKA_HOST: z.string().default('127.0.0.1'),
    KAFKA_PORT: port.default(9092),
    KAFKA_CONTROLLER_PORT: port.default(9093),
    KAFKA_BROKERS: z.string().optional(),
    KAFKA_CLIENT_ID: z.string().default('order-saga'),

    API_HOST: z.string().default('127.0.0.1'),
    API_PORT: port.default(3000),
  })
  .transform((env) => {
    const databaseUrl =
      env.DATABASE_URL ??
      `postgresql://${encodeURIComponent(env.POSTGRES_USER)}:${encodeURIComponent(env.POSTGRES_PASSWORD)}` +
        `@${env.POSTGRES_HOST}:${env.POSTGRES_PORT}/${env.POSTGRES_DB}`;
    return {
      env: env.NODE_ENV,
      logLevel: env.LOG_LEVEL,
      stack: { stateDir: path.resolve(env.STACK_STATE_DIR), cacheDir: path.resolve(env.STACK_CACHE_DIR) },
      postgres: {
        host: env.POSTGRES_HOST,
        port: env.POSTGRES_PORT,
        user: env.POSTGRES_USER,
        password: env.POSTGRES_PASSWORD,
        database: env.POSTGRES_DB,
        url: databaseUrl,
      },
      temporal: {
        host: env.TEMPORAL_HOST,
        port: env.TEMPORAL_PORT,
        address: `${env.TEMPORAL_HOST}:${env.TEMPORAL_PORT}`,
        uiPort: env.TEMPORAL_UI_PORT,
        uiUrl: `http://${env.TEMPORAL_HOST}:${env.TEMPORAL_UI_PORT}`,
        namespace: env.TEMPORAL_NAMESPACE,
        taskQueue: env.TEMPORAL_TASK_QUEUE,
      },
      kafka: {
        host: env.KAFKA_HOST,
        port: env.KAFKA_PORT,
        controllerPort: env.KAFKA_CONTROLLER_PORT,
        brokers: (env.KAFKA_BROKERS ?? `${env.KAFKA_HOST}:${env.KAFKA_PORT}`).split(',').map((b) => b.trim()),
        clientId: env.KAFKA_CLIENT_ID,
      },
      api: { host: env.API_HOST, port: env.API_PORT, url: `http://${env.API_HOST}:${env.API_PORT}` },
    };
  });

export type Config = z.output<typeof schema>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Reads and validates the configuration from an environment (the process's by default). */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new ConfigError(`invalid configuration: ${problems}`);
  }
  return parsed.data;
}
