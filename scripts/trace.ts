import pg from 'pg';
import { loadConfig } from '../config/index.js';

// Prints one order's trace from the stack's Zipkin (npm start -- --traces) as a tree of spans:
// `npm run trace -- <order id or trace id> [--sql]`; --sql adds the statements and Prisma's spans.
// Zipkin's UI shows the same trace at <ZIPKIN_PORT>/zipkin/traces/<trace id>.

/** A span as Zipkin's API v2 returns it; times in microseconds. */
interface ZipkinSpan {
  id: string;
  parentId?: string;
  name?: string;
  timestamp: number;
  duration?: number;
  localEndpoint?: { serviceName?: string };
  tags?: Record<string, string>;
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
const response = await fetch(`${config.zipkin.url}/api/v2/trace/${traceId}`).catch(() =>
  refuse(`Zipkin does not answer on ${config.zipkin.url}; start the stack with npm start -- --traces`),
);
if (response.status === 404) refuse(`Zipkin has no trace ${traceId} (it keeps traces in memory, from its start on)`);
const spans = (await response.json()) as ZipkinSpan[];

const isDatabase = (span: ZipkinSpan) => /^(pg[.-]|prisma:)/.test(span.name ?? '');
const children = new Map<string | undefined, ZipkinSpan[]>();
const known = new Set(spans.map((s) => s.id));
for (const span of spans) {
  const parent = known.has(span.parentId ?? '') ? span.parentId : undefined;
  children.set(parent, [...(children.get(parent) ?? []), span]);
}
const start = Math.min(...spans.map((s) => s.timestamp));

console.log(`trace ${traceId}: ${spans.length} spans`);
function print(parent: string | undefined, depth: number): void {
  for (const span of (children.get(parent) ?? []).sort((a, b) => a.timestamp - b.timestamp)) {
    const shown = withSql || !isDatabase(span);
    if (shown) {
      const service = span.localEndpoint?.serviceName ?? '?';
      const sql = withSql && isDatabase(span) ? span.tags?.['db.query.text'] : undefined;
      const at = `+${((span.timestamp - start) / 1000).toFixed(0)} ms`.padStart(10);
      const took = `${((span.duration ?? 0) / 1000).toFixed(1)} ms`.padStart(10);
      console.log(`${at} ${took}  ${'  '.repeat(depth)}${span.name ?? '?'}  [${service}]${sql ? `  ${sql.replace(/\s+/g, ' ').trim().slice(0, 100)}` : ''}`);
    }
    print(span.id, shown ? depth + 1 : depth);
  }
}
print(undefined, 0);
