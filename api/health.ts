import { type Client } from '@temporalio/client';
import { type Admin } from 'kafkajs';
import { type PrismaClient } from '../generated/prisma/client.js';

export type HealthCheck = (signal: AbortSignal) => Promise<void>;

/** What GET /health asks, each with a real round trip to the server. */
export interface HealthProbes {
  database: HealthCheck;
  eventBus: HealthCheck;
  temporal: HealthCheck;
}

export type CheckResult = 'ok' | 'error';

export function dependencyProbes(deps: { prisma: PrismaClient; temporal: Client; kafkaAdmin: Admin }): HealthProbes {
  return {
    database: async () => {
      await deps.prisma.$queryRaw`SELECT 1`;
    },
    eventBus: async () => {
      await deps.kafkaAdmin.connect();
      const cluster = await deps.kafkaAdmin.describeCluster();
      if (cluster.brokers.length === 0) throw new Error('the Kafka cluster has no brokers');
    },
    temporal: async (signal) => {
      await deps.temporal.connection.withAbortSignal(signal, () => deps.temporal.workflowService.getSystemInfo({}));
    },
  };
}

/** Runs every probe at once, each given up on after `timeoutMs`; failures are reported with their reason. */
export async function checkHealth(
  probes: HealthProbes,
  timeoutMs: number,
): Promise<{ checks: Record<keyof HealthProbes, CheckResult>; failures: Partial<Record<keyof HealthProbes, unknown>> }> {
  const names = Object.keys(probes) as (keyof HealthProbes)[];
  const outcomes = await Promise.allSettled(names.map((name) => withTimeout(probes[name], timeoutMs, name)));
  const checks = {} as Record<keyof HealthProbes, CheckResult>;
  const failures: Partial<Record<keyof HealthProbes, unknown>> = {};
  names.forEach((name, i) => {
    const outcome = outcomes[i]!;
    checks[name] = outcome.status === 'fulfilled' ? 'ok' : 'error';
    if (outcome.status === 'rejected') failures[name] = outcome.reason;
  });
  return { checks, failures };
}

async function withTimeout(check: HealthCheck, timeoutMs: number, name: string): Promise<void> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      check(controller.signal),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          controller.abort();
          reject(new Error(`${name} did not answer within ${timeoutMs} ms`));
        }, timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
