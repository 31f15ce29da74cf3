import fs from 'node:fs';

/** CPU and memory of a process tree on Linux, read from /proc (no agent, no dependency). */

const TICKS_PER_SECOND = 100;
const PAGE_KB = 4;

function children(pid: number): number[] {
  try {
    const tasks = fs.readdirSync(`/proc/${pid}/task`);
    return tasks.flatMap((task) => {
      try {
        return fs.readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
      } catch {
        return [];
      }
    });
  } catch {
    return [];
  }
}

/** The pid and all its descendants (PostgreSQL's backends, a wrapper's child). */
export function processTree(pid: number): number[] {
  const all = [pid];
  for (let i = 0; i < all.length; i++) all.push(...children(all[i]!));
  return all;
}

/** CPU seconds (user + system) used so far by the tree's live processes. */
export function cpuSeconds(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // utime, stime, cutime, cstime: fields 14–17 of the line, 12–15 after the command.
      ticks += Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
    } catch {
      // The process ended between listing and reading.
    }
  }
  return ticks / TICKS_PER_SECOND;
}

/** Resident memory of the tree now, in MiB. */
export function rssMiB(pids: number[]): number {
  let pages = 0;
  for (const pid of pids) {
    try {
      pages += Number(fs.readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ')[1]);
    } catch {
      // ended
    }
  }
  return (pages * PAGE_KB) / 1024;
}

/** Follows named process trees: CPU between marks, and the peak RSS seen by `sample()`. */
export class ProcessMeter {
  private readonly peaks = new Map<string, number>();
  private marks = new Map<string, number>();

  /** `roots` are followed with their descendants; `singles` alone (the bench, whose children are the app). */
  constructor(
    private readonly roots: Record<string, number>,
    private readonly singles: Record<string, number> = {},
  ) {}

  private trees(): Record<string, number[]> {
    return {
      ...Object.fromEntries(Object.entries(this.roots).map(([name, pid]) => [name, processTree(pid)])),
      ...Object.fromEntries(Object.entries(this.singles).map(([name, pid]) => [name, [pid]])),
    };
  }

  sample(): void {
    for (const [name, pids] of Object.entries(this.trees())) {
      this.peaks.set(name, Math.max(this.peaks.get(name) ?? 0, rssMiB(pids)));
    }
  }

  mark(): void {
    this.marks = new Map(Object.entries(this.trees()).map(([name, pids]) => [name, cpuSeconds(pids)]));
  }

  /** CPU seconds each tree used since the last mark. */
  cpuSinceMark(): Record<string, number> {
    return Object.fromEntries(Object.entries(this.trees()).map(([name, pids]) => [name, cpuSeconds(pids) - (this.marks.get(name) ?? 0)]));
  }

  peakRss(): Record<string, number> {
    return Object.fromEntries(this.peaks);
  }
}
