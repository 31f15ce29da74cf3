import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../config/index.js';
import { testConfig } from '../test/support/env.js';
import { compareSchemaWithDatabase } from '../test/support/schema-check.js';

const schema = await fs.readFile(path.join(projectRoot, 'prisma', 'schema.prisma'), 'utf8');

function edit(find: string, replace: string): string {
  if (!schema.includes(find)) throw new Error(`schema.prisma no longer contains ${JSON.stringify(find)}`);
  return schema.replace(find, replace);
}

describe('the migrated database', () => {
  it('matches schema.prisma: tables, columns, types, keys, indexes and foreign keys', async () => {
    const diff = await compareSchemaWithDatabase(schema, testConfig().postgres.url);
    expect(diff).toEqual({ missing: [], unexpected: [] });
  });

  it('no longer matches when a model gains a field without a migration', async () => {
    const changed = edit('  city      String\n', '  city      String\n  timezone  String\n');
    const diff = await compareSchemaWithDatabase(changed, testConfig().postgres.url);
    expect(diff.missing).toEqual(['column warehouses.timezone text NOT NULL']);
  });

  it('no longer matches when a type, a nullability or an index changes without a migration', async () => {
    const changed = edit('@@index([category])', '')
      .replace('failureReason   String?', 'failureReason   String')
      .replace('quantity      Int\n  reservation ', 'quantity      BigInt\n  reservation ');
    const diff = await compareSchemaWithDatabase(changed, testConfig().postgres.url);
    expect(diff.missing).toEqual(
      expect.arrayContaining(['column orders.failure_reason text NOT NULL', 'column reservation_lines.quantity bigint NOT NULL']),
    );
    expect(diff.unexpected).toEqual(
      expect.arrayContaining([
        'index products_category_idx on products (category)',
        'column orders.failure_reason text',
        'column reservation_lines.quantity integer NOT NULL',
      ]),
    );
  });

  it('no longer matches when a relation’s referential action changes without a migration', async () => {
    const changed = edit(
      'order     Order          @relation(fields: [orderId], references: [id], onDelete: Cascade)',
      'order     Order          @relation(fields: [orderId], references: [id])',
    );
    const diff = await compareSchemaWithDatabase(changed, testConfig().postgres.url);
    expect(diff.missing).toEqual([
      'foreign key order_items_order_id_fkey on order_items (order_id) references orders (id) on delete RESTRICT on update CASCADE',
    ]);
  });

  it('compares Unsupported("…") columns too, which Prisma’s own parser leaves out', async () => {
    const changed = edit('searchVector Unsupported("tsvector")?', 'searchVector Unsupported("tsquery")?');
    const diff = await compareSchemaWithDatabase(changed, testConfig().postgres.url);
    expect(diff).toEqual({
      missing: ['column product_search.search_vector tsquery'],
      unexpected: ['column product_search.search_vector tsvector'],
    });
  });
});
