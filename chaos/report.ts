import fs from 'node:fs';
import path from 'node:path';
import type { FaultRecord } from './faults.js';
import type { InvariantResult } from './invariants.js';
import type { LoadCounts } from './load.js';

export interface ChaosReport {
  runId: string;
  startedAt: string;
  loadSeconds: number;
  drainSeconds: number;
  rate: number;
  topology: { kafka: string; processes: string[]; temporal: string };
  /** Orders by final status (and failure reason). */
  orders: Record<string, number>;
  load: LoadCounts;
  faults: FaultRecord[];
  invariants: InvariantResult[];
}

/** Writes the report as JSON and as Markdown beside it; returns both paths. */
export function writeReport(dir: string, report: ChaosReport): { json: string; markdown: string } {
  fs.mkdirSync(dir, { recursive: true });
  const stem = path.join(dir, report.startedAt.replace(/[:.]/g, '-'));
  fs.writeFileSync(`${stem}.json`, `${JSON.stringify(report, null, 2)}\n`);
  fs.writeFileSync(`${stem}.md`, markdown(report));
  return { json: `${stem}.json`, markdown: `${stem}.md` };
}

function markdown(report: ChaosReport): string {
  const violations = report.invariants.reduce((n, i) => n + i.violations.length, 0);
  const faultsByKind = report.faults.reduce<Record<string, number>>((all, f) => ({ ...all, [f.kind]: (all[f.kind] ?? 0) + 1 }), {});
  const lines = [
    `# Chaos run ${report.runId}`,
    '',
    `Started ${report.startedAt}; load ${report.loadSeconds} s at ${report.rate} orders/s, drained in ${report.drainSeconds} s.`,
    `Kafka: ${report.topology.kafka}. Processes: ${report.topology.processes.join(', ')}. Temporal: ${report.topology.temporal}.`,
    '',
    `**${violations} violation(s)** over ${report.invariants.length} invariants.`,
    '',
    '## Orders by outcome',
    '',
    '| outcome | orders |',
    '|---|---|',
    ...Object.entries(report.orders).map(([k, n]) => `| ${k} | ${n} |`),
    '',
    `Requests: ${report.load.submitted} orders sent, ${report.load.accepted} accepted, ${report.load.heldBack} held back (too many clients at work), ${report.load.gaveUp} gave up, ${report.load.retries} retries; refused ${JSON.stringify(report.load.refused)}.`,
    `Same Idempotency-Key sent twice at once: ${report.load.duplicates.sent} (${report.load.duplicates.sameOrder} answered with the same order, ${report.load.duplicates.differentOrder} with different ones).`,
    `Cancels racing the saga: ${report.load.cancels.sent} (${report.load.cancels.accepted} accepted, ${report.load.cancels.refused} refused 409, ${report.load.cancels.other} other).`,
    `3-D Secure completed late: ${report.load.threeDSecure.completedLate}.`,
    '',
    '## Faults',
    '',
    '| kind | count |',
    '|---|---|',
    ...Object.entries(faultsByKind).map(([k, n]) => `| ${k} | ${n} |`),
    '',
    '| at | kind | target | back after | detail |',
    '|---|---|---|---|---|',
    ...report.faults.map((f) => `| ${f.at} | ${f.kind} | ${f.target} | ${(f.outageMs / 1000).toFixed(1)} s | ${f.detail ?? ''} |`),
    '',
    '## Invariants',
    '',
    '| invariant | checked | violations |',
    '|---|---|---|',
    ...report.invariants.map((i) => `| ${i.name} | ${i.checked} | ${i.violations.length} |`),
    '',
    ...report.invariants.flatMap((i) => (i.violations.length ? [`### ${i.name}`, '', ...i.violations.slice(0, 50).map((v) => `- ${v}`), ''] : [])),
  ];
  return `${lines.join('\n')}\n`;
}
