import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import type { Config } from '../config/index.js';
import type { RunningApplication } from '../scripts/application.js';
import { alive, livePid } from '../stack/processes.js';
import { kafkaNodeName } from '../stack/services.js';
import { pidFile, up } from '../stack/stack.js';

export const faultKinds = ['worker', 'api', 'relay', 'broker', 'all-brokers', 'postgres', 'temporal'] as const;
export type FaultKind = (typeof faultKinds)[number];

export interface FaultRecord {
  kind: FaultKind;
  target: string;
  at: string;
  /** From the fault until the target answered again. */
  outageMs: number;
  detail?: string;
}

async function untilDead(pid: number): Promise<void> {
  while (alive(pid)) await sleep(20);
}

/**
 * The faults of a chaos run, each to a process this run or its stack started, found by its pid:
 * application processes by the pids the launcher holds, servers by the stack's pid files.
 */
export class FaultInjector {
  readonly done: FaultRecord[] = [];
  current: string | undefined;

  constructor(
    private readonly options: {
      config: Config;
      app: RunningApplication;
      /** The run's database as an administrator sees it: to find a relay with a batch in flight. */
      databaseUrl: string;
      say: (line: string) => void;
      random?: () => number;
      /** How long one broker stays down (default 10 s); all of them stay down 15 s. */
      brokerDownMs?: number;
    },
  ) {}

  private pick<T>(list: T[]): T {
    return list[Math.floor((this.options.random ?? Math.random)() * list.length)]!;
  }

  async inject(kind: FaultKind): Promise<FaultRecord> {
    const started = Date.now();
    const at = new Date(started).toISOString();
    this.current = kind;
    try {
      const { target, detail } = await this.run(kind);
      const record = { kind, target, at, outageMs: Date.now() - started, detail };
      this.done.push(record);
      return record;
    } finally {
      this.current = undefined;
    }
  }

  private async run(kind: FaultKind): Promise<{ target: string; detail?: string }> {
    const { config } = this.options;
    switch (kind) {
      case 'worker':
      case 'api':
        return this.killAndRestart(this.pick(this.instancesOf(kind)).name, 3000);
      case 'relay':
        return this.killRelayMidBatch();
      case 'broker': {
        const node = this.pick(config.kafka.nodes);
        await this.killServer(kafkaNodeName(node.id), 'SIGKILL');
        await sleep(this.options.brokerDownMs ?? 10_000);
        await up(config, { only: ['kafka'] });
        return { target: kafkaNodeName(node.id) };
      }
      case 'all-brokers': {
        await Promise.all(config.kafka.nodes.map((node) => this.killServer(kafkaNodeName(node.id), 'SIGKILL')));
        await sleep(15_000);
        await up(config, { only: ['kafka'] });
        return { target: config.kafka.nodes.map((n) => kafkaNodeName(n.id)).join(',') };
      }
      case 'postgres':
        // SIGQUIT is PostgreSQL's immediate shutdown: no checkpoint, crash recovery at the next start.
        await this.killServer('postgres', 'SIGQUIT');
        await sleep(3000);
        await up(config, { only: ['postgres'] });
        return { target: 'postgres', detail: 'immediate shutdown (SIGQUIT), crash recovery on start' };
      case 'temporal':
        await this.killServer('temporal', 'SIGKILL');
        await sleep(3000);
        await up(config, { only: ['temporal'] });
        return { target: 'temporal' };
    }
  }

  /** The running instances of an application process: `worker`, or `worker-1`, `worker-2`… */
  private instancesOf(kind: string) {
    return this.options.app.processes.filter((p) => p.name === kind || p.name.startsWith(`${kind}-`));
  }

  private async killServer(name: string, signal: NodeJS.Signals): Promise<void> {
    const pid = livePid(pidFile(this.options.config, name));
    if (pid === undefined) throw new Error(`${name} is not running (no live pid in its pid file)`);
    process.kill(pid, signal);
    await untilDead(pid);
  }

  private async killAndRestart(name: string, downMs: number, detail?: string): Promise<{ target: string; detail?: string }> {
    const { pid } = this.options.app.processes.find((p) => p.name === name)!;
    process.kill(pid, 'SIGKILL');
    await untilDead(pid);
    await sleep(downMs);
    await this.options.app.restart(name);
    return { target: name, detail };
  }

  /**
   * Kills a relay between publishing and marking: it waits until a relay's database session is
   * idle inside a transaction that holds row locks (it claimed a batch and is sending it to Kafka),
   * freezes that relay (SIGSTOP) at once, lets the send it may have in flight land, then kills it.
   * Its rows stay unpublished, so the other relay sends them again: the subscribers must drop the copies.
   */
  private async killRelayMidBatch(): Promise<{ target: string; detail?: string }> {
    const client = new pg.Client({ connectionString: this.options.databaseUrl });
    client.on('error', () => undefined);
    await client.connect();
    try {
      const deadline = Date.now() + 30_000;
      while (Date.now() < deadline) {
        const { rows } = await client.query<{ application_name: string }>(
          `SELECT application_name FROM pg_stat_activity
           WHERE application_name LIKE 'relay%' AND state = 'idle in transaction' AND backend_xid IS NOT NULL`,
        );
        const caught = rows[0] && this.options.app.processes.find((p) => p.name === rows[0]!.application_name);
        if (caught) {
          process.kill(caught.pid, 'SIGSTOP');
          await sleep(500);
          return this.killAndRestart(caught.name, 3000, 'stopped with a claimed batch in flight, then killed');
        }
        await sleep(5);
      }
    } finally {
      await client.end();
    }
    return this.killAndRestart(this.pick(this.instancesOf('relay')).name, 3000, 'no batch caught in flight within 30 s: killed at a random point');
  }
}
