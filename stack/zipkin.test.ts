import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { trace } from '@opentelemetry/api';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../config/index.js';
import { initTelemetry } from '../telemetry/index.js';
import { freePort } from '../test/support/env.js';
import { down, up } from './stack.js';

/** A span as Zipkin's API v2 returns it. */
interface ZipkinSpan {
  name: string;
  localEndpoint: { serviceName: string };
}

describe('the trace viewer of the local stack', () => {
  let config: Config | undefined;
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'stack-zipkin-'));

  afterAll(async () => {
    if (config) await down(config, ['zipkin']);
    fs.rmSync(stateDir, { recursive: true, force: true });
  });

  it('keeps the spans a process sends it and finds them by trace id, with its UI', async () => {
    // The exporter's endpoint comes from the stack's ZIPKIN_PORT, as npm start's processes get it.
    config = loadConfig({ ...process.env, STACK_STATE_DIR: stateDir, ZIPKIN_PORT: String(await freePort()), OTEL_TRACES_EXPORTER: 'zipkin' });
    const { started } = await up(config, { only: ['zipkin'] });
    expect(started).toEqual(['zipkin']);

    const telemetry = initTelemetry(config, { serviceName: 'order-api' });
    const span = trace.getTracer('stack-test').startSpan('POST /api/v1/orders');
    const { traceId } = span.spanContext();
    span.end();
    await telemetry.shutdown();

    const found = async (): Promise<ZipkinSpan[] | undefined> => {
      const response = await fetch(`${config!.zipkin.url}/api/v2/trace/${traceId}`);
      return response.ok ? ((await response.json()) as ZipkinSpan[]) : undefined;
    };
    await expect.poll(found, { timeout: 15_000, interval: 250 }).toBeDefined();
    // Zipkin keeps names in lower case.
    expect((await found())!.map((s) => [s.name, s.localEndpoint.serviceName])).toEqual([['post /api/v1/orders', 'order-api']]);

    const ui = await fetch(config.zipkin.uiUrl);
    expect(ui.ok).toBe(true);
    expect(await ui.text()).toMatch(/<title>Zipkin<\/title>/);
  }, 600_000);
});
