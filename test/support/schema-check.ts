import prismaSchemaWasm from '@prisma/prisma-schema-wasm';
import pg from 'pg';

/**
 * Compares a database with what a Prisma schema declares: enums, tables, columns (type and
 * nullability), primary keys, indexes (unique or not, column order and direction) and foreign keys
 * (with their actions), under the names Prisma gives them. Each is written as one line of text, so
 * a difference reads plainly. Objects Prisma's language cannot declare (CHECK constraints,
 * sequences) and `_prisma_migrations` are not compared.
 */

export interface SchemaDiff {
  /** Declared by the schema, absent from the database. */
  missing: string[];
  /** In the database, not declared by the schema. */
  unexpected: string[];
}

interface DmmfField {
  name: string;
  dbName?: string | null;
  kind: 'scalar' | 'object' | 'enum' | 'unsupported';
  type: string;
  isRequired: boolean;
  isList: boolean;
  nativeType?: [string, string[]] | null;
  relationFromFields?: string[];
  relationToFields?: string[];
  relationOnDelete?: string;
  relationOnUpdate?: string;
}
interface DmmfModel {
  name: string;
  dbName: string | null;
  fields: DmmfField[];
}
interface DmmfIndex {
  model: string;
  type: 'id' | 'unique' | 'normal' | 'fulltext';
  name?: string | null;
  dbName?: string | null;
  fields: { name: string; sortOrder?: 'asc' | 'desc' }[];
}
interface Datamodel {
  enums: { name: string; dbName?: string | null; values: { name: string; dbName: string | null }[] }[];
  models: DmmfModel[];
  indexes: DmmfIndex[];
}

/**
 * Parses a schema with Prisma's own parser (the Wasm build the CLI uses; no engine, no network).
 * Its DMMF leaves out `Unsupported("…")` fields, so they are read from the text and added to their
 * models with kind `unsupported` and the database type as their type.
 */
export function parseDatamodel(schema: string): Datamodel {
  const dmmf = JSON.parse(prismaSchemaWasm.get_dmmf(JSON.stringify({ prismaSchema: [['schema.prisma', schema]] }))) as {
    datamodel: Datamodel;
  };
  for (const [, name, body] of schema.matchAll(/^model\s+(\w+)\s*\{([^}]*)\}/gm)) {
    const model = dmmf.datamodel.models.find((m) => m.name === name);
    for (const [, field, type, optional, rest] of body!.matchAll(/^\s*(\w+)\s+Unsupported\("([^"]+)"\)(\?)?(.*)$/gm)) {
      model?.fields.push({
        name: field!,
        dbName: /@map\("([^"]+)"\)/.exec(rest!)?.[1] ?? null,
        kind: 'unsupported',
        type: type!,
        isRequired: !optional,
        isList: false,
      });
    }
  }
  return dmmf.datamodel;
}

const scalarTypes: Record<string, string> = {
  String: 'text',
  Int: 'integer',
  BigInt: 'bigint',
  Boolean: 'boolean',
  Float: 'double precision',
  Decimal: 'numeric(65,30)',
  DateTime: 'timestamp(3) without time zone',
  Json: 'jsonb',
  Bytes: 'bytea',
};

function nativeTypeName([name, args]: [string, string[]]): string {
  const n = args.join(',');
  switch (name) {
    case 'Uuid':
      return 'uuid';
    case 'Char':
      return `character(${n})`;
    case 'VarChar':
      return args.length ? `character varying(${n})` : 'character varying';
    case 'Decimal':
      return `numeric(${n})`;
    case 'Timestamptz':
      return `timestamp(${args[0] ?? '6'}) with time zone`;
    case 'Timestamp':
      return `timestamp(${args[0] ?? '6'}) without time zone`;
    case 'Date':
      return 'date';
    case 'SmallInt':
      return 'smallint';
    case 'Text':
      return 'text';
    case 'JsonB':
      return 'jsonb';
    case 'Json':
      return 'json';
    default:
      throw new Error(`native type @db.${name} is not supported by the schema check; add it`);
  }
}

const referentialActions: Record<string, string> = {
  Cascade: 'CASCADE',
  Restrict: 'RESTRICT',
  NoAction: 'NO ACTION',
  SetNull: 'SET NULL',
  SetDefault: 'SET DEFAULT',
};

/** The facts a migrated database must show for this schema. */
export function expectedFacts(schema: string): string[] {
  const dm = parseDatamodel(schema);
  const facts: string[] = [];
  const enumDbName = new Map(dm.enums.map((e) => [e.name, e.dbName ?? e.name]));
  for (const e of dm.enums) facts.push(`enum ${e.dbName ?? e.name} (${e.values.map((v) => v.dbName ?? v.name).join(', ')})`);

  const models = new Map(dm.models.map((m) => [m.name, m]));
  const tableOf = (m: DmmfModel) => m.dbName ?? m.name;
  const columnOf = (m: DmmfModel, field: string) => {
    const f = m.fields.find((x) => x.name === field);
    if (!f) throw new Error(`${m.name}.${field} is not a field`);
    return f.dbName ?? f.name;
  };

  for (const model of dm.models) {
    const table = tableOf(model);
    facts.push(`table ${table}`);
    for (const f of model.fields) {
      if (f.kind === 'object') continue;
      const base =
        f.kind === 'unsupported'
          ? f.type
          : f.kind === 'enum'
            ? enumDbName.get(f.type)!
            : f.nativeType
              ? nativeTypeName(f.nativeType)
              : scalarTypes[f.type];
      if (!base) throw new Error(`type ${f.type} of ${model.name}.${f.name} is not supported by the schema check; add it`);
      facts.push(`column ${table}.${f.dbName ?? f.name} ${f.isList ? `${base}[]` : base}${f.isRequired ? ' NOT NULL' : ''}`);
    }
    for (const f of model.fields) {
      if (f.kind !== 'object' || !f.relationFromFields?.length) continue;
      const target = models.get(f.type)!;
      const from = f.relationFromFields.map((x) => columnOf(model, x));
      const to = f.relationToFields!.map((x) => columnOf(target, x));
      const required = f.relationFromFields.every((x) => model.fields.find((y) => y.name === x)?.isRequired);
      const onDelete = referentialActions[f.relationOnDelete ?? (required ? 'Restrict' : 'SetNull')];
      const onUpdate = referentialActions[f.relationOnUpdate ?? 'Cascade'];
      facts.push(
        `foreign key ${table}_${from.join('_')}_fkey on ${table} (${from.join(', ')}) references ${tableOf(target)} (${to.join(', ')}) on delete ${onDelete} on update ${onUpdate}`,
      );
    }
  }

  for (const index of dm.indexes) {
    const model = models.get(index.model)!;
    const table = tableOf(model);
    const columns = index.fields.map((f) => columnOf(model, f.name) + (f.sortOrder === 'desc' ? ' DESC' : ''));
    const plain = index.fields.map((f) => columnOf(model, f.name)).join('_');
    if (index.type === 'id') {
      facts.push(`primary key ${index.dbName ?? `${table}_pkey`} on ${table} (${columns.join(', ')})`);
    } else if (index.type === 'unique') {
      facts.push(`unique index ${index.dbName ?? `${table}_${plain}_key`} on ${table} (${columns.join(', ')})`);
    } else {
      facts.push(`index ${index.dbName ?? `${table}_${plain}_idx`} on ${table} (${columns.join(', ')})`);
    }
  }
  return facts.sort();
}

const pgActions: Record<string, string> = { a: 'NO ACTION', r: 'RESTRICT', c: 'CASCADE', n: 'SET NULL', d: 'SET DEFAULT' };

/** The same facts, read from a database's catalog (schema `public`). */
export async function databaseFacts(databaseUrl: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const facts: string[] = [];
    const enums = await client.query<{ name: string; values: string[] }>(`
      SELECT t.typname AS name, array_agg(e.enumlabel ORDER BY e.enumsortorder)::text[] AS values
      FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid JOIN pg_namespace n ON n.oid = t.typnamespace
      WHERE n.nspname = 'public' GROUP BY t.typname`);
    for (const e of enums.rows) facts.push(`enum ${e.name} (${e.values.join(', ')})`);

    const tables = await client.query<{ name: string }>(`
      SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname <> '_prisma_migrations'`);
    for (const t of tables.rows) facts.push(`table ${t.name}`);

    const columns = await client.query<{ table: string; column: string; type: string; not_null: boolean }>(`
      SELECT c.relname AS table, a.attname AS column, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null
      FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname <> '_prisma_migrations'
        AND a.attnum > 0 AND NOT a.attisdropped`);
    for (const c of columns.rows) facts.push(`column ${c.table}.${c.column} ${c.type}${c.not_null ? ' NOT NULL' : ''}`);

    const indexes = await client.query<{ table: string; name: string; unique: boolean; primary: boolean; columns: string[] }>(`
      SELECT t.relname AS table, i.relname AS name, ix.indisunique AS unique, ix.indisprimary AS primary,
             array(SELECT (SELECT a.attname FROM pg_attribute a WHERE a.attrelid = ix.indrelid AND a.attnum = ix.indkey[k]) ||
                          CASE WHEN ix.indoption[k] & 1 = 1 THEN ' DESC' ELSE '' END
                   FROM generate_subscripts(ix.indkey, 1) AS k ORDER BY k)::text[] AS columns
      FROM pg_index ix JOIN pg_class i ON i.oid = ix.indexrelid JOIN pg_class t ON t.oid = ix.indrelid
      JOIN pg_namespace n ON n.oid = t.relnamespace
      WHERE n.nspname = 'public' AND t.relname <> '_prisma_migrations'`);
    for (const ix of indexes.rows) {
      const kind = ix.primary ? 'primary key' : ix.unique ? 'unique index' : 'index';
      facts.push(`${kind} ${ix.name} on ${ix.table} (${ix.columns.join(', ')})`);
    }

    const foreignKeys = await client.query<{
      name: string;
      table: string;
      columns: string[];
      ref_table: string;
      ref_columns: string[];
      on_delete: string;
      on_update: string;
    }>(`
      SELECT con.conname AS name, t.relname AS table, r.relname AS ref_table,
             array(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord)
                   JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum ORDER BY k.ord)::text[] AS columns,
             array(SELECT a.attname FROM unnest(con.confkey) WITH ORDINALITY AS k(attnum, ord)
                   JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum ORDER BY k.ord)::text[] AS ref_columns,
             con.confdeltype AS on_delete, con.confupdtype AS on_update
      FROM pg_constraint con JOIN pg_class t ON t.oid = con.conrelid JOIN pg_class r ON r.oid = con.confrelid
      JOIN pg_namespace n ON n.oid = t.relnamespace
      WHERE n.nspname = 'public' AND con.contype = 'f'`);
    for (const fk of foreignKeys.rows) {
      facts.push(
        `foreign key ${fk.name} on ${fk.table} (${fk.columns.join(', ')}) references ${fk.ref_table} (${fk.ref_columns.join(', ')}) ` +
          `on delete ${pgActions[fk.on_delete]} on update ${pgActions[fk.on_update]}`,
      );
    }
    return facts.sort();
  } finally {
    await client.end();
  }
}

/** What differs between the schema and the database: empty lists when they agree. */
export async function compareSchemaWithDatabase(schema: string, databaseUrl: string): Promise<SchemaDiff> {
  const expected = expectedFacts(schema);
  const actual = await databaseFacts(databaseUrl);
  const actualSet = new Set(actual);
  const expectedSet = new Set(expected);
  return {
    missing: expected.filter((f) => !actualSet.has(f)),
    unexpected: actual.filter((f) => !expectedSet.has(f)),
  };
}
