import pg from 'pg';

/**
 * Raw SQL as tagged templates, the way Prisma's `$queryRaw` and `$executeRaw` take it: a Prisma
 * client or transaction is one, and so is a plain node-postgres transaction (`sqlTransaction`),
 * so a domain function written against `Sql` runs inside either.
 */
export interface Sql {
  $queryRaw<T = unknown>(query: TemplateStringsArray, ...values: unknown[]): Promise<T>;
  $executeRaw(query: TemplateStringsArray, ...values: unknown[]): Promise<number>;
}

/** `int8` as `bigint`, as Prisma reads it (node-postgres's default is a string); the rest as node-postgres reads it. */
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === pg.types.builtins.INT8 ? (value: string) => BigInt(value) : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

export function createPool(config: pg.PoolConfig): pg.Pool {
  const pool = new pg.Pool({ ...config, types });
  // An idle connection the server closed (a restart, a dropped database) leaves the pool by
  // itself and the next query opens another; unheard, the error would end the process.
  pool.on('error', () => undefined);
  return pool;
}

/** A name per statement in the code (a template's strings are one object per call site). */
const statementNames = new WeakMap<TemplateStringsArray, string>();
let statementsNamed = 0;

/**
 * A tagged template as a named (prepared) statement: each connection parses and analyses it once,
 * then only binds and runs it. The statements of a saga are a few short ones run over and over, so
 * parsing and planning were a large part of PostgreSQL's CPU per saga.
 */
function statement(query: TemplateStringsArray, values: unknown[]): pg.QueryConfig {
  let name = statementNames.get(query);
  if (name === undefined) {
    name = `s${++statementsNamed}`;
    statementNames.set(query, name);
  }
  return { name, text: query.reduce((text, part, i) => `${text}$${i}${part}`), values };
}

/** Sql over a node-postgres pool (each statement on its own) or one checked-out client (a transaction). */
class PgSql implements Sql {
  constructor(private readonly client: pg.Pool | pg.PoolClient) {}

  async $queryRaw<T = unknown>(query: TemplateStringsArray, ...values: unknown[]): Promise<T> {
    return (await this.client.query(statement(query, values))).rows as T;
  }

  async $executeRaw(query: TemplateStringsArray, ...values: unknown[]): Promise<number> {
    return (await this.client.query(statement(query, values))).rowCount ?? 0;
  }
}

export function poolSql(pool: pg.Pool): Sql {
  return new PgSql(pool);
}

/**
 * Runs `work` in one transaction on one pooled connection: BEGIN, the work's statements, COMMIT
 * (ROLLBACK when it throws). A connection whose ROLLBACK failed is discarded, not pooled again.
 */
export async function sqlTransaction<T>(pool: pg.Pool, work: (tx: Sql) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  // The server ending the connection mid-transaction (a restart, pg_terminate_backend) is an
  // 'error' event on the client, which the pool hears only while the client is idle: unheard, it
  // would end the process. The statement in flight fails with it, and the client is not pooled again.
  const lost = (error: Error) => (broken = error);
  client.on('error', lost);
  try {
    await client.query('BEGIN');
    const result = await work(new PgSql(client));
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch((rollbackError: Error) => (broken = rollbackError));
    throw error;
  } finally {
    client.off('error', lost);
    client.release(broken);
  }
}
