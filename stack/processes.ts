import { spawn, type SpawnOptions } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** A problem the user can act on; the CLI prints its message as one line, without a stack trace. */
export class StackError extends Error {
  override name = 'StackError';
}

export interface PidRecord {
  pid: number;
  /** A string that this process's command line contains, so a recycled pid is never mistaken for ours. */
  marker: string;
}

export function readPidRecord(pidFile: string): PidRecord | undefined {
  try {
    return JSON.parse(fs.readFileSync(pidFile, 'utf8')) as PidRecord;
  } catch {
    return undefined;
  }
}

function commandLine(pid: number): string | undefined {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return undefined;
  }
}

/** The pid of the process this pid file names, if that process is still the one we started. */
export function livePid(pidFile: string): number | undefined {
  const record = readPidRecord(pidFile);
  if (!record) return undefined;
  const cmdline = commandLine(record.pid);
  return cmdline?.includes(record.marker) ? record.pid : undefined;
}

export interface DetachedSpec {
  command: string;
  args: string[];
  logFile: string;
  pidFile: string;
  marker: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  uid?: number;
  gid?: number;
}

/** Starts a process that outlives this one, with its output appended to a log file. */
export function spawnDetached(spec: DetachedSpec): number {
  fs.mkdirSync(path.dirname(spec.logFile), { recursive: true });
  const log = fs.openSync(spec.logFile, 'a');
  const options: SpawnOptions = {
    detached: true,
    stdio: ['ignore', log, log],
    env: spec.env ?? process.env,
    cwd: spec.cwd,
    uid: spec.uid,
    gid: spec.gid,
  };
  const child = spawn(spec.command, spec.args, options);
  fs.closeSync(log);
  if (child.pid === undefined) throw new StackError(`could not start ${spec.command}`);
  child.unref();
  const record: PidRecord = { pid: child.pid, marker: spec.marker };
  fs.writeFileSync(spec.pidFile, JSON.stringify(record));
  return child.pid;
}

/** Whether a process with this pid exists (signal 0 probes without sending anything). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Stops the process a pid file names (only if it is still ours): the signal first, SIGKILL after the grace. */
export async function stopByPidFile(pidFile: string, signal: NodeJS.Signals, graceMs: number): Promise<boolean> {
  const pid = livePid(pidFile);
  fs.rmSync(pidFile, { force: true });
  if (pid === undefined) return false;
  process.kill(pid, signal);
  const deadline = Date.now() + graceMs;
  while (alive(pid) && Date.now() < deadline) await sleep(100);
  if (alive(pid)) process.kill(pid, 'SIGKILL');
  while (alive(pid)) await sleep(50);
  return true;
}

/** True when nothing accepts connections on host:port. */
export async function portIsFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

export async function waitUntil(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs: number,
  hint: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await sleep(250);
  }
  throw new StackError(`${what} did not answer within ${Math.round(timeoutMs / 1000)} s; ${hint}`);
}

/** Runs a command to completion, with its output going to a log file; throws with the log's tail when it fails. */
export async function run(
  command: string,
  args: string[],
  options: { logFile: string; cwd?: string; env?: NodeJS.ProcessEnv; uid?: number; gid?: number },
): Promise<void> {
  fs.mkdirSync(path.dirname(options.logFile), { recursive: true });
  const log = fs.openSync(options.logFile, 'a');
  fs.writeSync(log, `\n$ ${command} ${args.join(' ')}\n`);
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(command, args, {
      stdio: ['ignore', log, log],
      cwd: options.cwd,
      env: options.env ?? process.env,
      uid: options.uid,
      gid: options.gid,
    });
    child.once('error', reject);
    child.once('exit', resolve);
  }).finally(() => fs.closeSync(log));
  if (code !== 0) {
    const tail = fs.readFileSync(options.logFile, 'utf8').trimEnd().split('\n').slice(-15).join('\n');
    throw new StackError(`${path.basename(command)} ${args[0] ?? ''} failed (exit ${code}); see ${options.logFile}:\n${tail}`);
  }
}

/** The absolute path of a program on PATH, or undefined. */
export function which(program: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const candidate = path.join(dir, program);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}
