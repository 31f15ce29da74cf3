import { runHandMadeCases, type HandCasesResult } from './cases.js';
import { runSchemathesis, type SchemathesisRun } from './schemathesis.js';
import { type FuzzTarget, type ServerError, type WriteByRefusal } from './target.js';

export interface FuzzReport {
  seed: number;
  maxExamples: number;
  phases: string;
  requests: number;
  /** Answers by operation, then by status. */
  byOperation: Record<string, Record<string, number>>;
  byStatusClass: Record<string, number>;
  refusalsChecked: number;
  serverErrors: ServerError[];
  /** Requests that had to write nothing (refusals, replays) after which something had moved. */
  writesByRefusals: WriteByRefusal[];
  handMade: HandCasesResult;
  schemathesis: { exitCode: number | null; summary: string };
  seconds: number;
  /** Snapshots of the system taken to see writes, and the seconds they took. */
  watch: { snapshots: number; seconds: number };
}

/** The hostile-input run: the hand-made cases, then schemathesis, on one fuzzed system. */
export async function fuzz(target: FuzzTarget, options: { seed: number; maxExamples: number; phases: string; thorough: boolean; maxSeconds?: number }): Promise<{ report: FuzzReport; schemathesis: SchemathesisRun }> {
  const started = Date.now();
  const handMade = await runHandMadeCases(target, options);
  const schemathesis = await runSchemathesis(target, options);
  await target.recorder.drained();
  const { recorder } = target;
  const byStatusClass: Record<string, number> = {};
  for (const statuses of Object.values(recorder.statuses)) {
    for (const [status, count] of Object.entries(statuses)) byStatusClass[`${status[0]}xx`] = (byStatusClass[`${status[0]}xx`] ?? 0) + count;
  }
  const report: FuzzReport = {
    seed: options.seed,
    maxExamples: options.maxExamples,
    phases: options.phases,
    requests: recorder.requests,
    byOperation: recorder.statuses,
    byStatusClass,
    refusalsChecked: recorder.refusalsChecked,
    serverErrors: recorder.serverErrors,
    writesByRefusals: recorder.writesByRefusals,
    handMade,
    schemathesis: { exitCode: schemathesis.code, summary: summaryOf(schemathesis.output) },
    seconds: Math.round((Date.now() - started) / 1000),
    watch: { snapshots: recorder.watchCost.snapshots, seconds: Math.round(recorder.watchCost.ms / 1000) },
  };
  return { report, schemathesis };
}

/** Schemathesis's own summary: its report from the failures section (or the last lines) on. */
function summaryOf(output: string): string {
  const lines = output.trimEnd().split('\n');
  const from = lines.findIndex((line) => /^=+ (FAILURES|SUMMARY)/.test(line));
  return lines.slice(from >= 0 ? from : -40).join('\n');
}

/** The report as Markdown: the figures first, then each finding. */
export function reportMarkdown(report: FuzzReport): string {
  const statuses = [...new Set(Object.values(report.byOperation).flatMap((s) => Object.keys(s)))].sort();
  const rows = Object.entries(report.byOperation)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([operation, counts]) => `| ${operation} | ${statuses.map((s) => counts[s] ?? '').join(' | ')} | ${Object.values(counts).reduce((a, b) => a + b, 0)} |`);
  return [
    '# Fuzz report',
    '',
    `- requests: ${report.requests} (hand-made cases: ${report.handMade.cases}; the rest from schemathesis: phases ${report.phases}, seed ${report.seed}, ${report.maxExamples} examples per operation and phase)`,
    `- by status class: ${Object.entries(report.byStatusClass).sort().map(([c, n]) => `${c} ${n}`).join(', ')}`,
    `- 5xx: ${report.serverErrors.length}`,
    `- refusals (4xx) checked for writes: ${report.refusalsChecked}; requests that wrote although they had to write nothing: ${report.writesByRefusals.length}`,
    `- hand-made cases answered otherwise than expected: ${report.handMade.findings.length}`,
    `- schemathesis exit code: ${report.schemathesis.exitCode}`,
    `- time: ${report.seconds} s, of which ${report.watch.seconds} s taking ${report.watch.snapshots} snapshots of every table, the sagas and the charges`,
    '',
    '## Answers by operation and status',
    '',
    `| operation | ${statuses.join(' | ')} | total |`,
    `|---|${statuses.map(() => '---:').join('|')}|---:|`,
    ...rows,
    '',
    '## Hand-made cases by group',
    '',
    ...Object.entries(report.handMade.byGroup).map(([group, n]) => `- ${group}: ${n}`),
    '',
    '## 5xx',
    '',
    ...(report.serverErrors.length ? report.serverErrors.map((e) => `- ${e.status} ${e.case}: ${e.body.slice(0, 300)}`) : ['none']),
    '',
    '## Writes by requests that had to write nothing',
    '',
    ...(report.writesByRefusals.length ? report.writesByRefusals.map((w) => `- ${w.status} ${w.case}: ${JSON.stringify(w.moved)}`) : ['none']),
    '',
    '## Hand-made cases answered otherwise than expected',
    '',
    ...(report.handMade.findings.length ? report.handMade.findings.map((f) => `- ${f.status} ${f.case}: ${f.problem}`) : ['none']),
    '',
    "## Schemathesis's summary",
    '',
    '```',
    report.schemathesis.summary,
    '```',
    '',
  ].join('\n');
}
