import { Client, defaultGrpcRetryOptions, makeGrpcRetryInterceptor } from '@temporalio/client';
import { TemporalConnection } from './order-saga-client.js';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import { type Config } from '../config/index.js';
import { createPrisma } from '../db/prisma.js';
import { type PrismaClient } from '../generated/prisma/client.js';
import { tracingClientInterceptors } from '../telemetry/temporal.js';

/** The servers the API talks to. */
export interface ApiConnections {
  prisma: PrismaClient;
  temporal: Client;
  kafkaAdmin: Admin;
  close(): Promise<void>;
}

/**
 * A Temporal client that connects on first use and gives up quickly: the API answers 503 and the
 * caller retries, so a call should not sit in gRPC's own retries, and a server that comes back is
 * reconnected to within a second or two.
 */
export function createTemporalClient(temporal: Config['temporal'], options: { address?: string } = {}): Client {
  const connection = TemporalConnection.lazy({
    ...temporal.connection,
    ...(options.address ? { address: options.address } : {}),
    connectTimeout: '2 seconds',
    interceptors: [makeGrpcRetryInterceptor(defaultGrpcRetryOptions({ maxAttempts: 2 }))],
    channelArgs: { 'grpc.initial_reconnect_backoff_ms': 200, 'grpc.max_reconnect_backoff_ms': 1000 },
  });
  // The saga runs in the trace of the request that started or signalled it.
  return new Client({ connection, namespace: temporal.namespace, interceptors: tracingClientInterceptors() });
}

/** A Kafka admin client for health checks: one attempt per check, so a broker that is down is reported at once. */
export function createKafkaAdmin(config: Config): Admin {
  const kafka = new Kafka({
    clientId: `${config.kafka.clientId}-api`,
    brokers: config.kafka.brokers,
    connectionTimeout: config.api.dependencyTimeoutMs,
    requestTimeout: config.api.dependencyTimeoutMs,
    retry: { retries: 0 },
    logLevel: logLevel.NOTHING,
  });
  return kafka.admin();
}

/**
 * The API's database client: PostgreSQL gives up on a statement, or a transaction left idle, when
 * the API's circuit breaker gives up on the call, so no write the client was answered 503 for
 * commits later.
 */
export function createApiPrisma(config: Config): PrismaClient {
  return createPrisma(config.postgres.url, { poolSize: config.postgres.poolSize, abandonAfterMs: config.api.dependencyTimeoutMs });
}

export function createConnections(config: Config): ApiConnections {
  const prisma = createApiPrisma(config);
  const temporal = createTemporalClient(config.temporal);
  const kafkaAdmin = createKafkaAdmin(config);
  return {
    prisma,
    temporal,
    kafkaAdmin,
    async close() {
      const results = await Promise.allSettled([prisma.$disconnect(), temporal.connection.close(), kafkaAdmin.disconnect()]);
      const failures = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
      if (failures.length) throw new AggregateError(failures, 'closing the API connections failed');
    },
  };
}
