import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../config/index.js';
import { livePid, portIsFree, spawnDetached, StackError, stopByPidFile, waitUntil } from './processes.js';
import { phase, type Say } from './progress.js';
import { kafkaService, postgresService, temporalService, zipkinService, type Service } from './services.js';
import { ensureTools, toolPaths, type ToolPaths } from './tools.js';

export const serviceNames = ['postgres', 'kafka', 'temporal', 'zipkin'] as const;
export type ServiceName = (typeof serviceNames)[number];

export function stackDirs(config: Config) {
  const { stateDir } = config.stack;
  return { stateDir, logDir: path.join(stateDir, 'logs'), runDir: path.join(stateDir, 'run') };
}

/** The kind of a service: each node of the Kafka cluster (`kafka`, `kafka-2`, …) is a `kafka`. */
const kindOf = (name: Service['name']): ServiceName => (name.startsWith('kafka') ? 'kafka' : (name as ServiceName));

/** The stack's services: those named, or all of them; Zipkin only when named or asked for (STACK_TRACES, --traces), or `everything` (down, status). */
function services(config: Config, tools: ToolPaths, only?: readonly ServiceName[], everything = false): Service[] {
  const context = { config, tools, logDir: stackDirs(config).logDir };
  const kafkaNodes = config.kafka.nodes.map((node) => kafkaService(context, node.id));
  const all = [postgresService(context), ...kafkaNodes, temporalService(context), zipkinService(context)];
  if (only?.length) return all.filter((s) => only.includes(kindOf(s.name)));
  return everything || config.stack.traces ? all : all.filter((s) => s.name !== 'zipkin');
}

export const pidFile = (config: Config, name: string) => path.join(stackDirs(config).runDir, `${name}.pid`);
export const logFile = (config: Config, name: string) => path.join(stackDirs(config).logDir, `${name}.log`);

export interface UpResult {
  /** The services this call started; the others were already running. */
  started: Service['name'][];
  urls: Partial<Record<Service['name'], string[]>>;
}

/**
 * Installs what is missing, then starts each service that is not running yet and waits until it
 * answers. Idempotent: a service that is already up (started by us) is left as it is.
 */
export async function up(
  config: Config,
  options: { only?: readonly ServiceName[]; say?: Say } = {},
): Promise<UpResult> {
  const say = options.say ?? (() => undefined);
  const { logDir, runDir } = stackDirs(config);
  fs.mkdirSync(logDir, { recursive: true });
  fs.mkdirSync(runDir, { recursive: true });
  const chosen = services(config, noTools(config), options.only);
  const tools = await ensureTools(config.stack.cacheDir, logDir, say, {
    temporalServer: config.temporal.server === 'server',
    zipkin: chosen.some((s) => s.name === 'zipkin'),
  });
  const started: Service['name'][] = [];
  const urls: UpResult['urls'] = {};
  const waiting: Service[] = [];

  for (const service of services(config, tools, options.only)) {
    urls[service.name] = service.urls;
    const pid = livePid(pidFile(config, service.name));
    if (pid !== undefined && !runsWith(pid, service.launch().args)) {
      say(`${service.name} runs with other settings than this checkout starts it with; to apply them: npm run stack -- down ${service.name} && npm run stack -- up`);
    }
    if (pid === undefined) {
      for (const use of service.ports) {
        if (!(await portIsFree(use.host, use.port))) {
          throw new StackError(
            `port ${use.port} on ${use.host} (${service.name}) is already in use by another process; ` +
              `stop it or set ${use.env} to a free port`,
          );
        }
      }
      await service.prepare();
      spawnDetached({ ...service.launch(), pidFile: pidFile(config, service.name), logFile: logFile(config, service.name) });
      started.push(service.name);
    }
    waiting.push(service);
    if (service.awaitWithNext) continue;
    for (const ready of waiting.splice(0)) await untilReady(ready);
  }
  return { started, urls };

  async function untilReady(service: Service): Promise<void> {
    const ready = () =>
      waitUntil(
        service.name,
        async () => {
          if (livePid(pidFile(config, service.name)) === undefined) {
            throw new StackError(`${service.name} exited while starting; see ${logFile(config, service.name)}`);
          }
          return service.ready();
        },
        service.readyTimeoutMs,
        `see ${logFile(config, service.name)}`,
      );
    const starting = started.includes(service.name)
      ? phase(say, `starting ${service.name}`, ready, { logFile: logFile(config, service.name) })
      : ready();
    await starting.catch(async (error: unknown) => {
      // A server that never came up is stopped again, so the next `up` starts from a clean slate.
      if (started.includes(service.name)) await stopByPidFile(pidFile(config, service.name), 'SIGKILL', 0);
      throw error;
    });
    await service.afterReady?.();
  }
}

/** True when the process's command line has every one of `args` (a server started by an older checkout may not). */
function runsWith(pid: number, args: string[]): boolean {
  try {
    const running = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return args.every((arg) => running.includes(arg));
  } catch {
    return true;
  }
}

/** Stops the services this stack started, by the pids it recorded; returns those it stopped. */
export async function down(config: Config, only?: readonly ServiceName[]): Promise<Service['name'][]> {
  const stopped: Service['name'][] = [];
  // Temporal first and PostgreSQL last, the reverse of the start order.
  for (const service of services(config, noTools(config), only, true).reverse()) {
    if (await stopByPidFile(pidFile(config, service.name), service.stopSignal, 30_000)) stopped.push(service.name);
  }
  return stopped;
}

export interface ServiceStatus {
  name: Service['name'];
  pid: number | undefined;
  answering: boolean;
  urls: string[];
}

/** The services and whether they answer; Zipkin only when it runs or is asked for. */
export async function status(config: Config): Promise<ServiceStatus[]> {
  const all = await Promise.all(
    services(config, noTools(config), undefined, true).map(async (service) => {
      const pid = livePid(pidFile(config, service.name));
      const answering = pid !== undefined && (await service.ready().catch(() => false));
      return { name: service.name, pid, answering, urls: service.urls };
    }),
  );
  return all.filter((s) => s.name !== 'zipkin' || s.pid !== undefined || config.stack.traces);
}

/** Paths for stopping or inspecting services, which needs nothing installed. */
function noTools(config: Config): ToolPaths {
  return { ...toolPaths(config.stack.cacheDir), postgresBin: '' };
}
