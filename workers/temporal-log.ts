import { ApplicationFailure, type LogLevel, type LogMetadata, type Logger as TemporalLogger } from '@temporalio/common';
import { type Logger as PinoLogger } from 'pino';

const levels = { TRACE: 'trace', DEBUG: 'debug', INFO: 'info', WARN: 'warn', ERROR: 'error' } as const;

/** A business refusal (declined card, out of stock…): the activity's own interceptor logs it at info. */
function isRefusal(error: unknown): boolean {
  return error instanceof ApplicationFailure && error.nonRetryable === true;
}

/**
 * The Temporal SDK's logger (worker, activities, workflows through their sink, and core's forwarded
 * logs) as pino lines of the worker. The SDK's own "Activity failed" for a refusal goes to debug:
 * a refusal is an outcome of the order, logged once at info where it happens.
 */
export function temporalLogger(log: PinoLogger): TemporalLogger {
  const write = (level: LogLevel, message: string, meta: LogMetadata = {}) => {
    // The task token is an opaque blob of no use to a reader.
    const fields = { ...meta };
    delete fields.taskToken;
    const at = message === 'Activity failed' && isRefusal(fields.error) ? 'debug' : levels[level];
    log[at](fields, message);
  };
  return {
    log: write,
    trace: (message, meta) => write('TRACE', message, meta),
    debug: (message, meta) => write('DEBUG', message, meta),
    info: (message, meta) => write('INFO', message, meta),
    warn: (message, meta) => write('WARN', message, meta),
    error: (message, meta) => write('ERROR', message, meta),
  };
}

/** For the workflow bundler: its webpack report (a page of module sizes) is debug; its errors stay errors. */
export function quietBundlerLogger(logger: TemporalLogger): TemporalLogger {
  return { ...logger, log: (level, message, meta) => logger.log(level === 'INFO' ? 'DEBUG' : level, message, meta), info: logger.debug.bind(logger) };
}
