import pg from 'pg';
import { loadConfig } from '../config/index.js';

// Prints one order's trace from the stack's Jaeger (npm start -- --traces) as a tree of spans:
// `npm run trace -- <order id or trace id> [--sql]`; --sql adds the statements and Prisma's spans.
// Jaeger's query API serves it; its UI, built from the Go module, is a placeholder page.

interface JaegerSpan {
  spanID: string;
  operationName: string;
  processID: string;
  startTime: number;
  duration: number;
  references?: { refType: string; spanID: string }[];
  tags: { key: string; value: unknown }[];
}

const args = process.argv.slice(2);
const id = args.find((a) => !a.startsWith('--'));
const withSql = args.includes('--sql');
const config = loadConfig();

function refuse(message: string): never {
  console.error(message);
  process.exit(2);
}

if (!id) refuse('usage: npm run trace -- <order id or trace id> [--sql]');

/** A trace id as it is, or the trace id of the order with that id. */
async function traceIdOf(orderOrTrace: string): Promise<string> {
  if (/^[\da-f]{32}$/.test(orderOrTrace)) return orderOrTrace;
  const client = new pg.Client({ connectionString: config.postgres.url });
  await client.connect();
  try {
    const { rows } = await client.query<{ trace_id: string | null }>('SELECT trace_id FROM orders WHERE id::text = $1', [orderOrTrace]);
    return rows[0]?.trace_id ?? refuse(`no order ${orderOrTrace} with a trace id in ${config.postgres.database}`);
  } finally {
    await client.end();
  }
}

const traceId = await traceIdOf(id);
const response = await fetch(`${config.jaeger.uiUrl}/api/traces/${traceId}`).catch(() =>
  refuse(`Jaeger does not answer on ${config.jaeger.uiUrl}; start the stack with npm start -- --traces`),
);
if (response.status === 404) refuse(`Jaeger has no trace ${traceId} (it keeps traces in memory, from its start on)`);
const [trace] = ((await response.json()) as { data: { spans: JaegerSpan[]; processes: Record<string, { serviceName: string }> }[] }).data;
if (!trace) refuse(`Jaeger has no trace ${traceId}`);

const isDatabase = (span: JaegerSpan) => /^(pg[.-]|prisma:)/.test(span.operationName);
const parentOf = (span: JaegerSpan) => span.references?.find((r) => r.refType === 'CHILD_OF')?.spanID;
const children = new Map<string | undefined, JaegerSpan[]>();
const known = new Set(trace.spans.map((s) => s.spanID));
for (const span of trace.spans) {
  const parent = known.has(parentOf(span) ?? '') ? parentOf(span) : undefined;
  children.set(parent, [...(children.get(parent) ?? []), span]);
}
const start = Math.min(...trace.spans.map((s) => s.startTime));

console.log(`trace ${traceId}: ${trace.spans.length} spans`);
function print(parent: string | undefined, depth: number): void {
  for (const span of (children.get(parent) ?? []).sort((a, b) => a.startTime - b.startTime)) {
    const shown = withSql || !isDatabase(span);
    if (shown) {
      const service = trace!.processes[span.processID]?.serviceName ?? '?';
      const sql = withSql && isDatabase(span) ? span.tags.find((t) => t.key === 'db.query.text')?.value : undefined;
      const at = `+${((span.startTime - start) / 1000).toFixed(0)} ms`.padStart(10);
      const took = `${(span.duration / 1000).toFixed(1)} ms`.padStart(10);
      console.log(`${at} ${took}  ${'  '.repeat(depth)}${span.operationName}  [${service}]${sql ? `  ${String(sql).replace(/\s+/g, ' ').trim().slice(0, 100)}` : ''}`);
    }
    print(span.spanID, shown ? depth + 1 : depth);
  }
}
print(undefined, 0);
