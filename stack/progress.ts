import fs from 'node:fs';

/** Where the stack reports what it does: one line at a time, and optionally a phase with its elapsed time. */
export interface Say {
  (line: string): void;
  phase?: <T>(what: string, work: () => Promise<T>, options?: { logFile?: string }) => Promise<T>;
}

interface Output {
  isTTY?: boolean;
  columns?: number;
  write(text: string): unknown;
}

/**
 * A `say` for a terminal or a log: a long phase (a Go build, a Maven download) shows its elapsed
 * seconds and the last line of its log, refreshed in place on a terminal; elsewhere, a plain line
 * when it starts, one every `heartbeatMs` while it runs, and one when it ends.
 */
export function consoleSay(
  prefix: string,
  out: Output = process.stdout,
  options: { tickMs?: number; heartbeatMs?: number; now?: () => number } = {},
): Say {
  const now = options.now ?? Date.now;
  const say: Say = (line) => void out.write(`${prefix}${line}\n`);
  say.phase = async (what, work, phaseOptions = {}) => {
    const started = now();
    const seconds = () => `${Math.round((now() - started) / 1000)} s`;
    const live = () => {
      const detail = phaseOptions.logFile ? lastLine(phaseOptions.logFile) : undefined;
      const line = `${prefix}${what} … ${seconds()}${detail ? `  ${detail}` : ''}`;
      return line.slice(0, Math.max(20, (out.columns ?? 100) - 1));
    };
    let timer: NodeJS.Timeout;
    if (out.isTTY) {
      out.write(live());
      timer = setInterval(() => out.write(`\r\x1b[K${live()}`), options.tickMs ?? 1_000);
    } else {
      out.write(`${prefix}${what} …\n`);
      timer = setInterval(() => out.write(`${prefix}  still ${what}: ${seconds()}\n`), options.heartbeatMs ?? 30_000);
    }
    const end = (outcome: string) => out.write(`${out.isTTY ? '\r\x1b[K' : ''}${prefix}${what}: ${outcome} after ${seconds()}\n`);
    try {
      const result = await work();
      end('done');
      return result;
    } catch (error) {
      end('failed');
      throw error;
    } finally {
      clearInterval(timer);
    }
  };
  return say;
}

/** Runs `work` as a phase of `say` when it shows phases, else with a line before. */
export function phase<T>(say: Say, what: string, work: () => Promise<T>, options: { logFile?: string } = {}): Promise<T> {
  if (say.phase) return say.phase(what, work, options);
  say(what);
  return work();
}

/** The last non-empty line of a log (its last 4 KiB), for a glimpse of what a long build is doing. */
function lastLine(file: string): string | undefined {
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, 'r');
    const size = fs.fstatSync(fd).size;
    const length = Math.min(size, 4096);
    const buffer = Buffer.alloc(length);
    fs.readSync(fd, buffer, 0, length, size - length);
    return buffer.toString('utf8').trimEnd().split('\n').pop()?.trim() || undefined;
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}
