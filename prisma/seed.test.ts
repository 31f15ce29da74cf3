import { afterAll, describe, expect, it } from 'vitest';
import { createPrisma } from '../db/prisma.js';
import { testConfig } from '../test/support/env.js';
import { catalog, seedCatalog, warehouses } from './seed.js';

const prisma = createPrisma(testConfig().postgres.url);
afterAll(() => prisma.$disconnect());

describe('seedCatalog', () => {
  it('loads dozens of products with variants, prices and stock in every warehouse', async () => {
    const summary = await seedCatalog(prisma);

    expect(summary.products).toBeGreaterThanOrEqual(24);
    expect(summary.warehouses).toBe(3);
    const seeded = await prisma.product.findMany({
      where: { slug: { in: catalog.map((p) => p.slug) } },
      include: { variants: { include: { stock: true } } },
    });
    expect(seeded).toHaveLength(catalog.length);
    for (const product of seeded) {
      expect(product.variants.map((v) => v.position)).toContain(0);
      for (const variant of product.variants) {
        expect(variant.price.greaterThan(0)).toBe(true);
        expect(variant.stock).toHaveLength(warehouses.length);
      }
    }
  });

  it('is idempotent and never resets stock that orders hold', async () => {
    await seedCatalog(prisma);
    const stock = await prisma.stock.findFirstOrThrow({ where: { onHand: { gt: 2 }, variant: { sku: { startsWith: 'TRAIL-RUNNER-SHOE' } } } });
    await prisma.stock.update({ where: { id: stock.id }, data: { reserved: 2 } });
    const counts = async () => [await prisma.product.count(), await prisma.productVariant.count(), await prisma.stock.count()];
    const before = await counts();

    await seedCatalog(prisma);

    expect(await counts()).toEqual(before);
    expect(await prisma.stock.findUniqueOrThrow({ where: { id: stock.id } })).toMatchObject({ onHand: stock.onHand, reserved: 2 });
  });
});
