import { type Client } from '@temporalio/client';
import { type FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { type Admin } from 'kafkajs';
import { type Config } from '../../config/index.js';
import { type Clock } from '../../domain/clock.js';
import { type PrismaClient } from '../../generated/prisma/client.js';
import { createTokenVerifier, type TokenVerifier } from '../auth.js';
import { CircuitBreaker } from '../circuit-breaker.js';
import { Database, isDatabaseAnswer } from '../database.js';
import { dependencyProbes, type HealthProbes } from '../health.js';
import { OrderSagaGateway, isTemporalAnswer } from '../order-saga-client.js';

/** What the routes use: the servers behind their circuit breakers, the clock, the token check. */
export interface Services {
  config: Config;
  clock: Clock;
  db: Database;
  saga: OrderSagaGateway;
  verifyToken: TokenVerifier;
  health: HealthProbes;
}

declare module 'fastify' {
  interface FastifyInstance {
    services: Services;
  }
}

export interface ServiceDeps {
  config: Config;
  prisma: PrismaClient;
  temporal: Client;
  kafkaAdmin: Admin;
  clock: Clock;
}

export default fp(
  async (app: FastifyInstance, deps: ServiceDeps) => {
    const { config, clock } = deps;
    const breaker = (name: string, isAnswer: (error: unknown) => boolean) =>
      new CircuitBreaker({
        name,
        failureThreshold: config.api.breaker.failureThreshold,
        resetMs: config.api.breaker.resetMs,
        timeoutMs: config.api.dependencyTimeoutMs,
        isFailure: (error) => !isAnswer(error),
        clock,
      });
    app.decorate('services', {
      config,
      clock,
      db: new Database(deps.prisma, breaker('PostgreSQL', isDatabaseAnswer)),
      saga: new OrderSagaGateway(deps.temporal, breaker('Temporal', isTemporalAnswer), config.temporal.taskQueue),
      verifyToken: createTokenVerifier(config.jwt, clock),
      health: dependencyProbes(deps),
    } satisfies Services);
  },
  { name: 'services' },
);
