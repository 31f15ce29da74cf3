import closeWithGrace from 'close-with-grace';
import { type Logger } from './log.js';

/** What a started process hands back: how to stop it, and (optionally) a promise of its own end. */
export interface Running {
  /** Stops taking work, lets the work in hand finish, and closes the connections. */
  close(): Promise<void>;
  /** Settles when the process ends on its own (the worker's run loop); a rejection is a fatal error. */
  done?: Promise<unknown>;
}

/**
 * The one lifecycle of every process (API, worker, relay, subscribers, fake provider): start it,
 * and on SIGINT or SIGTERM, an uncaught exception or an unhandled rejection, close it once within
 * `deadlineMs`, then exit: 0 after a signal, 1 after an error, a failed close or an overrun
 * deadline. A further signal while closing is logged and changes nothing (a terminal's Ctrl-C reaches
 * the whole process group, and `npm start` then sends SIGTERM too): the deadline bounds the close.
 */
export function runProcess(options: { name: string; log: Logger; deadlineMs: number }, start: () => Promise<Running>): void {
  const { name, log, deadlineMs } = options;
  let running: Promise<Running | undefined> = Promise.resolve(undefined);
  let closing = false;
  let closedBy: NodeJS.Signals | undefined;
  const lifecycle = closeWithGrace(
    {
      delay: deadlineMs,
      logger: { error: (message: unknown) => log.error({ err: message }, `${name}: ${String(message)}`) },
      // Signals are handled below; the end comes from the process itself (`done`), not an empty event loop.
      skip: ['SIGINT', 'SIGTERM', 'beforeExit'],
    },
    async ({ err }) => {
      closing = true;
      if (err) log.error({ err }, `${name} failed; closing`);
      else if (closedBy) log.info({ signal: closedBy, deadlineMs }, `${name} shutting down`);
      else log.info({}, `${name} stopped; closing`);
      const started = await running.catch(() => undefined);
      await started?.close();
      log.info({}, `${name} closed`);
    },
  );
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (closing) return log.info({ signal }, `${name} is already shutting down`);
      closedBy = signal;
      lifecycle.close();
    });
  }
  running = start().then(
    (started) => {
      started.done?.then(
        () => closing || lifecycle.close(),
        (error: unknown) => process.emit('uncaughtException', error instanceof Error ? error : new Error(String(error))),
      );
      return started;
    },
    (error: unknown) => {
      log.error({ err: error }, `${name} failed to start`);
      process.exit(1);
    },
  );
}
