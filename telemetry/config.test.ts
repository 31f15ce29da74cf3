import { describe, expect, it } from 'vitest';
import { loadConfig } from '../config/index.js';

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

  it('refuse an exporter they do not know', () => {
    expect(() => loadConfig({ OTEL_TRACES_EXPORTER: 'jaeger' })).toThrow(/OTEL_TRACES_EXPORTER/);
  });
});
