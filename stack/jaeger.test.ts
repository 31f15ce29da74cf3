import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { trace } from '@opentelemetry/api';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../config/index.js';
import { initTelemetry } from '../telemetry/index.js';
import { freePort } from '../test/support/env.js';
import { down, up } from './stack.js';


interface JaegerTrace {
  spans: { operationName: string; processID: string }[];
  processes: Record<string, { serviceName: string }>;
}

describe('the trace viewer of the local stack', () => {
  let config: Config | undefined;
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'stack-jaeger-'));

  afterAll(async () => {
    if (config) await down(config, ['jaeger']);
    fs.rmSync(stateDir, { recursive: true, force: true });
  });

  it('keeps the spans a process sends it over OTLP and finds them by trace id', async () => {
    const otlpPort = await freePort();
    config = loadConfig({
      ...process.env,
      STACK_STATE_DIR: stateDir,
      JAEGER_UI_PORT: String(await freePort()),
      JAEGER_OTLP_PORT: String(otlpPort),
      OTEL_TRACES_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${otlpPort}`,
    });
    const { started } = await up(config, { only: ['jaeger'] });
    expect(started).toEqual(['jaeger']);

    const telemetry = initTelemetry(config, { serviceName: 'order-api' });
    const span = trace.getTracer('stack-test').startSpan('POST /api/v1/orders');
    const { traceId } = span.spanContext();
    span.end();
    await telemetry.shutdown();

    const found = async (): Promise<JaegerTrace | undefined> => {
      const response = await fetch(`${config!.jaeger.uiUrl}/api/traces/${traceId}`);
      return response.ok ? ((await response.json()) as { data: JaegerTrace[] }).data[0] : undefined;
    };
    await expect.poll(found, { timeout: 15_000, interval: 250 }).toBeDefined();
    const stored = (await found())!;
    expect(stored.spans.map((s) => s.operationName)).toEqual(['POST /api/v1/orders']);
    expect(stored.processes[stored.spans[0]!.processID]!.serviceName).toBe('order-api');
  }, 600_000);
});
