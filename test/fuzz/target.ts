import http from 'node:http';
import { type AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { seedProduct, startApi, terminateSagas, type TestApi } from '../support/api.js';
import { createScratchDatabase } from '../support/env.js';
import { startTestOrderWorker, type RunningTestWorker } from '../support/worker.js';
import { LedgerProvider } from './ledger-provider.js';
import { movedBetween, WriteWatch, type Snapshot } from './write-watch.js';

/** A request the API refused (4xx) after which something had been written. */
export interface WriteByRefusal {
  operation: string;
  case: string;
  status: number;
  moved: Record<string, string>;
}

export interface ObserveOptions<T> {
  /** The answer's body, kept for a 5xx. */
  bodyOf?: (answer: T) => string;
  mustNotWrite?: boolean;
}

export interface ServerError {
  operation: string;
  case: string;
  status: number;
  body: string;
}

/** Where an operation's requests go and what they write: the path with its ids named as in the document. */
export function operationOf(method: string, url: string): string {
  const path = (url.split('?')[0] ?? '/')
    .replace(/^(\/api\/v1\/(?:orders|products))\/[^/]+/, '$1/{id}')
    .replace(/^(\/api\/v1\/cart\/items)\/[^/]+/, '$1/{product_id}');
  return `${method.toUpperCase()} ${path}`;
}

/** How soon a saga acts on what reached it (a start, a signal, an Update): a refusal's effect would show by then. */
const SAGA_REACTION_MS = 150;
/** After an accepted request, the quiet time that says its saga rests (a signal's question to the provider takes a few steps). */
const SAGA_ACCEPTED_REACTION_MS = 300;

/** Operations through which a request may reach a saga (start, cancel, signal): their refusals are watched a while longer. */
const SAGA_OPERATIONS = new Set(['POST /api/v1/orders', 'POST /api/v1/orders/{id}/cancel', 'POST /api/v1/payments/webhook']);

/**
 * Sees every request to the fuzzed API one at a time: counts answers by operation and status,
 * keeps each 5xx, and for each refusal (4xx) compares a snapshot of the system taken when the
 * sagas were at rest before it with one taken when they are at rest again after it.
 */
export class Recorder {
  readonly statuses: Record<string, Record<string, number>> = {};
  readonly serverErrors: ServerError[] = [];
  readonly writesByRefusals: WriteByRefusal[] = [];
  refusalsChecked = 0;
  requests = 0;
  private queue: Promise<unknown> = Promise.resolve();
  /** The state after the last refusal, while nothing else has run since. */
  private atRest: Snapshot | undefined;
  /** The last request was answered 2xx by an operation that reaches sagas. */
  private sagaMayAct = false;

  constructor(private readonly watch: WriteWatch) {}

  /** What watching for writes cost: snapshots taken and their time. */
  get watchCost(): { snapshots: number; ms: number } {
    return { ...this.watch.cost };
  }

  /**
   * Runs `send` alone and records its answer; `name` names it in the report. A refusal must write
   * nothing; `mustNotWrite` asks the same of an answer that is not one (a replayed request).
   */
  observe<T extends { status: number }>(operation: string, name: string, send: () => Promise<T>, options: ObserveOptions<T> = {}): Promise<T> {
    const run = this.queue.then(() => this.observeAlone(operation, name, send, options));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Work that is not a request to check (setting a case up): the next request starts from rest again. */
  aside<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(async () => {
      this.atRest = undefined;
      return work();
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async observeAlone<T extends { status: number }>(operation: string, name: string, send: () => Promise<T>, options: ObserveOptions<T>): Promise<T> {
    const reachesSaga = SAGA_OPERATIONS.has(operation);
    // After a request a saga acted on, its next steps (a signal's answer, a compensation) may take a while to start.
    const rested = reachesSaga && this.atRest?.sagas === undefined ? undefined : this.atRest;
    const before = rested ?? (await this.watch.settled({ sagas: reachesSaga, quietMs: this.sagaMayAct ? SAGA_ACCEPTED_REACTION_MS : undefined }).catch(this.unsettled(name)));
    this.atRest = undefined;
    this.sagaMayAct = false;
    const answer = await send();
    this.requests += 1;
    const byStatus = (this.statuses[operation] ??= {});
    byStatus[answer.status] = (byStatus[answer.status] ?? 0) + 1;
    if (answer.status >= 500) this.serverErrors.push({ operation, case: name, status: answer.status, body: options.bodyOf?.(answer) ?? '' });
    const refused = answer.status >= 400 && answer.status < 500;
    if (refused) this.refusalsChecked += 1;
    if (reachesSaga && !refused && !options.mustNotWrite) {
      this.sagaMayAct = true;
      return answer;
    }
    // At rest again, nothing may have moved: a saga the request reached would have acted within
    // SAGA_REACTION_MS; a request that reaches none wrote, if at all, before it answered.
    const after = reachesSaga ? await sleep(SAGA_REACTION_MS).then(() => this.watch.settled({ sagas: true }).catch(this.unsettled(name))) : await this.watch.snapshot();
    const moved = movedBetween(before, after);
    if ((refused || options.mustNotWrite) && Object.keys(moved).length) this.writesByRefusals.push({ operation, case: name, status: answer.status, moved });
    this.atRest = after;
    return answer;
  }

  /** Sagas that never came to rest are a finding of their own; the run goes on from where they stand. */
  private unsettled(name: string) {
    return async (error: Error) => {
      this.serverErrors.push({ operation: 'sagas', case: name, status: 0, body: error.message });
      return this.watch.snapshot({ sagas: true });
    };
  }

  /** Resolves once every request handed to it has been recorded. */
  async drained(): Promise<void> {
    await this.queue;
  }
}

/** The fuzzed system: the API with its own database, an order worker with the fake provider, and a recording proxy. */
export interface FuzzTarget {
  api: TestApi;
  provider: LedgerProvider;
  recorder: Recorder;
  /** The API's address through the recording proxy (what schemathesis talks to). */
  baseUrl: string;
  /** The API's own address (hand-made cases talk to it, each through `recorder.observe`). */
  apiUrl: string;
  /** The catalog the cases order from. */
  products: { productId: string; variantId: string }[];
  close(): Promise<void>;
}

/**
 * Starts the fuzzed system. Issuer and audience are configured, so that tokens with the wrong
 * ones are refused; the rate limits are far above what a run sends, as a 429 would keep the
 * requests from the handlers.
 */
export async function startFuzzTarget(): Promise<FuzzTarget> {
  const database = await createScratchDatabase();
  const api = await startApi({
    databaseUrl: database.url,
    api: { rateLimit: { userPerMinute: 1_000_000, productsPerMinute: 1_000_000 } },
    jwt: { issuer: 'https://auth.order-saga.test/', audience: 'order-saga-api' },
  });
  await api.app.listen({ host: '127.0.0.1', port: 0 });
  const apiPort = (api.app.server.address() as AddressInfo).port;
  const products = [await seedProduct(api.prisma, { stock: 1_000_000 }), await seedProduct(api.prisma, { stock: 1_000_000, price: '5.00' })];
  const provider = new LedgerProvider();
  const taskQueue = api.config.temporal.taskQueue;
  const worker: RunningTestWorker = await startTestOrderWorker({ config: api.config, taskQueue, db: api.prisma, payments: provider });
  const watch = await WriteWatch.open({ databaseUrl: database.url, temporal: api.temporal, taskQueue, provider });
  const recorder = new Recorder(watch);
  const proxy = http.createServer((request, response) => {
    void recorder.observe(operationOf(request.method ?? 'GET', request.url ?? '/'), `schemathesis ${request.method} ${request.url}`, () => forward(request, response, apiPort), {
      bodyOf: (a) => a.body,
    });
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));

  return {
    api,
    provider,
    recorder,
    baseUrl: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`,
    apiUrl: `http://127.0.0.1:${apiPort}`,
    products,
    async close() {
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
      await recorder.drained();
      await worker.stop();
      const running = api.temporal.workflow.list({ query: `TaskQueue = "${taskQueue}" AND ExecutionStatus = "Running"` });
      const ids: string[] = [];
      for await (const saga of running) ids.push(saga.workflowId);
      await terminateSagas(api.temporal, ids);
      await watch.close();
      await api.close();
      await database.drop();
    },
  };
}

/** Passes one request to the API and its answer back; resolves with the status and the first bytes of the answer. */
function forward(request: http.IncomingMessage, response: http.ServerResponse, port: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const upstream = http.request({ host: '127.0.0.1', port, method: request.method, path: request.url, headers: request.headers }, (answer) => {
      response.writeHead(answer.statusCode ?? 502, answer.headers);
      let body = '';
      answer.on('data', (chunk: Buffer) => {
        if (body.length < 2_000) body += chunk.toString('utf8');
        response.write(chunk);
      });
      answer.on('end', () => {
        response.end();
        resolve({ status: answer.statusCode ?? 502, body });
      });
    });
    upstream.on('error', (error) => {
      if (!response.headersSent) response.writeHead(502);
      response.end();
      resolve({ status: 502, body: `the proxy could not reach the API: ${error.message}` });
    });
    request.pipe(upstream);
  });
}
