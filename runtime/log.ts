import { isSpanContextValid, trace } from '@opentelemetry/api';
import { pino, stdSerializers, type DestinationStream, type LoggerOptions, type Logger as PinoLogger } from 'pino';
import pretty from 'pino-pretty';
import { type Config } from '../config/index.js';

/** What the processes log through: structured fields, then a message (pino's shape, so a pino logger is one). */
export interface Logger {
  debug(fields: Record<string, unknown>, message: string): void;
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
}

/** Loggers whose bindings already carry a trace (an HTTP request's), so the mixin does not add it twice. */
const traced = new WeakSet<object>();

/**
 * Every process's log line has one shape: `level` as a label, ISO `time`, the process's `name`,
 * `msg`, its fields, and the `trace_id` and `span_id` of the OpenTelemetry span it was logged in.
 */
export function loggerOptions(name: string, level: Config['logLevel']): LoggerOptions {
  return {
    name,
    level,
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    serializers: { err: stdSerializers.err, error: stdSerializers.err },
    mixin(_fields, _level, logger) {
      if (traced.has(logger)) return {};
      const span = trace.getActiveSpan()?.spanContext();
      return span && isSpanContextValid(span) ? { trace_id: span.traceId, span_id: span.spanId } : {};
    },
  };
}

/** JSON lines on stdout; colourful, one-line-per-entry text when a person watches the terminal. */
export function logDestination(): DestinationStream {
  return process.stdout.isTTY ? pretty({ colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' }) : pino.destination(1);
}

export function createLogger(name: string, level: Config['logLevel']): PinoLogger {
  return pino(loggerOptions(name, level), logDestination());
}

/** A child of `logger` bound to a span that is not active where it logs (an HTTP request's, read in Fastify's hooks). */
export function withTrace<L extends { child(bindings: Record<string, unknown>): L }>(logger: L, span: { traceId: string; spanId: string }): L {
  const child = logger.child({ trace_id: span.traceId, span_id: span.spanId });
  traced.add(child);
  return child;
}
