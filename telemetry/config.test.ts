import { describe, expect, it } from 'vitest';
import { loadConfig } from '../config/index.js';
import { initTelemetry } from './index.js';

describe('the tracing settings', () => {
  it('export nothing unless told, under the order-saga namespace', () => {
    expect(loadConfig({}).telemetry).toMatchObject({ exporter: 'none', serviceNamespace: 'order-saga' });
  });

  it('send OTLP spans to <endpoint>/v1/traces, with or without a trailing slash', () => {
    for (const endpoint of ['http://collector:4318', 'http://collector:4318/']) {
      const config = loadConfig({ OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: endpoint });
      expect(config.telemetry).toMatchObject({ exporter: 'otlp', otlpTracesUrl: 'http://collector:4318/v1/traces' });
    }
  });

  it('send Zipkin spans to the stack\'s Zipkin, unless OTEL_EXPORTER_ZIPKIN_ENDPOINT names another', () => {
    expect(loadConfig({ OTEL_TRACES_EXPORTER: 'zipkin', ZIPKIN_PORT: '19411' }).telemetry).toMatchObject({
      exporter: 'zipkin',
      zipkinSpansUrl: 'http://127.0.0.1:19411/api/v2/spans',
    });
    const elsewhere = loadConfig({ OTEL_TRACES_EXPORTER: 'zipkin', OTEL_EXPORTER_ZIPKIN_ENDPOINT: 'http://zipkin:9411/api/v2/spans' });
    expect(elsewhere.telemetry.zipkinSpansUrl).toBe('http://zipkin:9411/api/v2/spans');
  });

  it('refuse an exporter they do not know', () => {
    expect(() => loadConfig({ OTEL_TRACES_EXPORTER: 'jaeger' })).toThrow(/OTEL_TRACES_EXPORTER/);
  });
});

describe('the resource every span and series carries', () => {
  it('names the process’s service, unless OTEL_SERVICE_NAME names another, with OTEL_RESOURCE_ATTRIBUTES added', async () => {
    const config = loadConfig({});
    const named = initTelemetry(config, { serviceName: 'order-worker' });
    expect(named.resource.attributes).toMatchObject({ 'service.name': 'order-worker', 'service.namespace': 'order-saga' });
    await named.shutdown();

    process.env.OTEL_SERVICE_NAME = 'order-worker-eu';
    process.env.OTEL_RESOURCE_ATTRIBUTES = 'deployment.environment.name=staging';
    try {
      const renamed = initTelemetry(config, { serviceName: 'order-worker' });
      expect(renamed.resource.attributes).toMatchObject({ 'service.name': 'order-worker-eu', 'deployment.environment.name': 'staging' });
      await renamed.shutdown();
    } finally {
      delete process.env.OTEL_SERVICE_NAME;
      delete process.env.OTEL_RESOURCE_ATTRIBUTES;
    }
  });
});
