import { type Db } from '../db/prisma.js';
import { type Clock } from '../domain/clock.js';
import { type Decimal } from '../domain/money.js';
import { Prisma } from '../generated/prisma/client.js';

/**
 * The product search read model (`product_search`, `product_search_stock`): kept up to date by the
 * search subscriber (events/subscribers/search.ts) and read here by the API's search route.
 */

/**
 * Sets the read model from the catalog and its stock, as of now: so that search works before any
 * event, and to repair it. Events that happened before now are then skipped as already counted.
 * Run it where writes are quiet (seeding, deployment): a reservation committing during the rebuild
 * may be counted by neither. `productIds` limits it to some products.
 */
export async function rebuildProductSearch(db: Db, clock: Clock, productIds?: string[]): Promise<number> {
  const now = clock();
  const only = (column: Prisma.Sql) => (productIds ? Prisma.sql`AND ${column} = ANY(${productIds}::uuid[])` : Prisma.empty);
  const products = await db.$executeRaw`
    INSERT INTO product_search (product_id, name, description, category, brand, price, currency, active, as_of)
    SELECT p.id, p.name, p.description, p.category, p.brand, coalesce(v.price, 0), coalesce(v.currency, 'XXX'),
           p.active AND v.price IS NOT NULL, ${now}
    FROM products p
    LEFT JOIN LATERAL (SELECT price, currency FROM product_variants
                       WHERE product_id = p.id AND active ORDER BY position LIMIT 1) v ON true
    WHERE true ${only(Prisma.sql`p.id`)}
    ON CONFLICT (product_id) DO UPDATE
    SET name = EXCLUDED.name, description = EXCLUDED.description, category = EXCLUDED.category,
        brand = EXCLUDED.brand, price = EXCLUDED.price, currency = EXCLUDED.currency,
        active = EXCLUDED.active, as_of = EXCLUDED.as_of`;
  await db.$executeRaw`
    INSERT INTO product_search_stock (product_id, warehouse_id, on_hand, reserved, as_of)
    SELECT v.product_id, s.warehouse_id, sum(s.on_hand), sum(s.reserved), ${now}
    FROM stock s JOIN product_variants v ON v.id = s.variant_id
    WHERE true ${only(Prisma.sql`v.product_id`)}
    GROUP BY v.product_id, s.warehouse_id
    ON CONFLICT (product_id, warehouse_id) DO UPDATE
    SET on_hand = EXCLUDED.on_hand, reserved = EXCLUDED.reserved, as_of = EXCLUDED.as_of`;
  return products;
}

export interface ProductHit {
  id: string;
  name: string;
  description: string;
  category: string;
  brand: string;
  price: Decimal;
  currency: string;
  /** Units free to order, over all warehouses. */
  available: number;
}

/**
 * Active products matching a web-search style query (words, "quoted phrases", -exclusions),
 * best match first: name over brand and category over description.
 */
export async function searchProducts(db: Db, query: { q: string; limit: number }): Promise<ProductHit[]> {
  return db.$queryRaw<ProductHit[]>`
    SELECT ps.product_id::text AS id, ps.name, ps.description, ps.category, ps.brand, ps.price, ps.currency,
           coalesce((SELECT sum(greatest(st.on_hand - st.reserved, 0)) FROM product_search_stock st
                     WHERE st.product_id = ps.product_id), 0)::int AS available
    FROM product_search ps, websearch_to_tsquery('english', ${query.q}) q
    WHERE ps.active AND ps.search_vector @@ q
    ORDER BY ts_rank(ps.search_vector, q) DESC, ps.name, ps.product_id
    LIMIT ${query.limit}`;
}
