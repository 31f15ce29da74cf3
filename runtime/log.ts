import { type Config } from '../config/index.js';

/** What the relay and the subscribers log through: structured fields, then a message (pino's shape). */
export interface Logger {
  debug(fields: Record<string, unknown>, message: string): void;
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
}

const levels = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity } as const;

function serialise(value: unknown): unknown {
  return value instanceof Error ? { type: value.name, message: value.message, stack: value.stack } : value;
}

/** JSON lines on stdout (errors on stderr), one per entry, at or above the configured level. */
export function createLogger(name: string, level: Config['logLevel']): Logger {
  const threshold = levels[level];
  const write = (at: Exclude<keyof typeof levels, 'silent'>) => (fields: Record<string, unknown>, message: string) => {
    if (levels[at] < threshold) return;
    const entry = Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, serialise(v)]));
    const line = JSON.stringify({ level: at, time: new Date().toISOString(), name, msg: message, ...entry });
    (levels[at] >= levels.error ? process.stderr : process.stdout).write(`${line}\n`);
  };
  return { debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error') };
}
