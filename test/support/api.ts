import net from 'node:net';
import { randomUUID } from 'node:crypto';
import { type Client, WorkflowNotFoundError } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { type FastifyInstance } from 'fastify';
import { type Config } from '../../config/index.js';
import { type PrismaClient } from '../../generated/prisma/client.js';
import { testConfig, uniqueName } from './env.js';
import { type OrderSagaInput } from '../../workflows/definitions.js';
import { buildApp } from '../../api/app.js';
import { signDevToken } from '../../api/auth.js';
import { createApiPrisma, createKafkaAdmin, createTemporalClient } from '../../api/dependencies.js';
import { trackPair } from './tcp.js';

export interface TestApi {
  app: FastifyInstance;
  config: Config;
  prisma: PrismaClient;
  /** A client of the real Temporal server, for looking at the sagas the API started. */
  temporal: Client;
  close(): Promise<void>;
}

/**
 * The API on the real stack (this run's database, the local Temporal and Kafka), with config
 * overrides; `temporalAddress` points it somewhere else (e.g. where nothing listens).
 */
export async function startApi(
  options: { api?: Partial<Config['api']>; jwt?: Partial<Config['jwt']>; temporalAddress?: string; namespace?: string; taskQueue?: string; databaseUrl?: string } = {},
): Promise<TestApi> {
  const base = testConfig();
  const config: Config = {
    ...base,
    api: { ...base.api, ...options.api },
    jwt: { ...base.jwt, ...options.jwt },
    temporal: { ...base.temporal, namespace: options.namespace ?? base.temporal.namespace, taskQueue: options.taskQueue ?? uniqueName('api-queue') },
    postgres: { ...base.postgres, url: options.databaseUrl ?? base.postgres.url },
  };
  const prisma = createApiPrisma(config);
  const apiTemporal = createTemporalClient(config.temporal, { address: options.temporalAddress });
  const temporal = createTemporalClient(base.temporal);
  const kafkaAdmin = createKafkaAdmin(config);
  const app = await buildApp({ config, prisma, temporal: apiTemporal, kafkaAdmin });
  await app.ready();
  return {
    app,
    config,
    prisma,
    temporal,
    async close() {
      await app.close();
      await Promise.all([prisma.$disconnect(), apiTemporal.connection.close(), temporal.connection.close(), kafkaAdmin.disconnect()]);
    },
  };
}

/** A user no other test uses, with a valid token. */
export async function newUser(config: Config): Promise<{ userId: string; authorization: string }> {
  const userId = uniqueName('user');
  return { userId, authorization: `Bearer ${await signDevToken(config.jwt, userId)}` };
}

/** A product with one variant, in stock in one warehouse. */
export async function seedProduct(
  prisma: PrismaClient,
  options: { price?: string; currency?: string; stock?: number; name?: string } = {},
): Promise<{ productId: string; variantId: string }> {
  const suffix = randomUUID().slice(0, 8);
  const warehouse = await prisma.warehouse.create({
    data: { code: `WH-${suffix}`, name: `Warehouse ${suffix}`, city: 'Berlin', country: 'DE' },
  });
  const product = await prisma.product.create({
    data: {
      slug: `product-${suffix}`,
      name: options.name ?? `Product ${suffix}`,
      description: 'A thing for tests',
      category: 'tests',
      brand: 'Acme',
      variants: {
        create: {
          sku: `SKU-${suffix}`,
          name: 'Default',
          position: 0,
          price: options.price ?? '29.99',
          currency: options.currency ?? 'USD',
          stock: { create: { warehouseId: warehouse.id, onHand: options.stock ?? 100 } },
        },
      },
    },
    include: { variants: true },
  });
  return { productId: product.id, variantId: product.variants[0]!.id };
}

export const shippingAddress = {
  address_line1: '1 Main Street',
  city: 'Springfield',
  state: 'IL',
  postal_code: '62701',
  country: 'US',
};

export function orderBody(productId: string, options: { quantity?: number; token?: string } = {}) {
  return {
    items: [{ product_id: productId, quantity: options.quantity ?? 2 }],
    shipping_address: shippingAddress,
    payment: { method: 'card', token: options.token ?? 'tok_visa' },
  };
}

/** Stops the sagas a test started on a task queue no worker polls, so they do not linger in the shared server. */
export async function terminateSagas(temporal: Client, workflowIds: Iterable<string>): Promise<void> {
  await Promise.all(
    [...new Set(workflowIds)].map(async (id) => {
      try {
        await temporal.workflow.getHandle(id).terminate('test finished');
      } catch (error) {
        if (!(error instanceof WorkflowNotFoundError)) throw error;
      }
    }),
  );
}

/** The input a saga was started with, from its history. */
export async function sagaInput(temporal: Client, workflowId: string): Promise<OrderSagaInput> {
  const history = await temporal.workflow.getHandle(workflowId).fetchHistory();
  const payloads = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads ?? [];
  return defaultPayloadConverter.fromPayload<OrderSagaInput>(payloads[0]!);
}

/**
 * A TCP proxy to a server, which the test can stop and start again on the same port: the server
 * "goes down" for whoever talks through the proxy, and nobody else.
 */
export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>();
  let replyLosingMarker: string | undefined;
  const server = net.createServer((client) => {
    const upstream = net.connect(target.port, target.host);
    trackPair(sockets, client, upstream);
    let deaf = false;
    let tail = '';
    // Registered before the pipe, so the connection turns deaf before the request goes on.
    client.on('data', (chunk: Buffer) => {
      const marker = replyLosingMarker;
      if (!marker || deaf) return;
      const text = tail + chunk.toString('latin1');
      tail = text.slice(-marker.length);
      if (text.includes(marker)) {
        deaf = true;
        replyLosingMarker = undefined;
      }
    });
    client.pipe(upstream);
    upstream.on('data', (chunk: Buffer) => {
      if (!deaf) client.write(chunk);
    });
  });
  const listen = (port: number) => new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  await listen(0);
  const port = (server.address() as net.AddressInfo).port;
  return {
    address: `127.0.0.1:${port}`,
    async stop() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
    },
    start: () => listen(port),
    loseRepliesAfter(marker) {
      replyLosingMarker = marker;
    },
  };
}

export interface TcpProxy {
  address: string;
  stop(): Promise<void>;
  start(): Promise<void>;
  /**
   * The next request whose bytes contain `marker` reaches the server, but nothing the server sends
   * on that connection reaches the client any more: the server acts, the reply is lost. A stop and
   * start heals it.
   */
  loseRepliesAfter(marker: string): void;
}
