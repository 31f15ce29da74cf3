import { type Db } from '../db/prisma.js';
import { type Prisma } from '../generated/prisma/client.js';
import { NotFoundError } from './errors.js';
import { type Decimal } from './money.js';

/** A purchasable form of a product with its price and whether any warehouse has a unit free. */
export interface VariantView {
  id: string;
  sku: string;
  name: string;
  price: Decimal;
  currency: string;
  inStock: boolean;
}

/** A product as the catalog shows it: the price is its default variant's (seed §1 Example 1). */
export interface ProductView {
  id: string;
  name: string;
  description: string;
  price: Decimal;
  currency: string;
  inStock: boolean;
  variants: VariantView[];
}

export interface ProductPage {
  products: ProductView[];
  nextCursor: string | null;
}

const withVariants = {
  variants: {
    where: { active: true },
    orderBy: { position: 'asc' },
    include: { stock: { select: { onHand: true, reserved: true } } },
  },
} as const satisfies Prisma.ProductInclude;
type ProductWithVariants = Prisma.ProductGetPayload<{ include: typeof withVariants }>;

/** Only products that are active and have an active variant can be bought, so only they are shown. */
const purchasable = { active: true, variants: { some: { active: true } } } as const satisfies Prisma.ProductWhereInput;

function toView(product: ProductWithVariants): ProductView {
  const variants = product.variants.map((v) => ({
    id: v.id,
    sku: v.sku,
    name: v.name,
    price: v.price,
    currency: v.currency,
    inStock: v.stock.some((s) => s.onHand - s.reserved > 0),
  }));
  const defaultVariant = variants[0]!;
  return {
    id: product.id,
    name: product.name,
    description: product.description,
    price: defaultVariant.price,
    currency: defaultVariant.currency,
    inStock: variants.some((v) => v.inStock),
    variants,
  };
}

/** The catalog by name, `limit` at a time; `cursor` is the last product id of the previous page. */
export async function listProducts(db: Db, page: { limit: number; cursor?: string }): Promise<ProductPage> {
  const rows = await db.product.findMany({
    where: purchasable,
    include: withVariants,
    orderBy: [{ name: 'asc' }, { id: 'asc' }],
    take: page.limit + 1,
    ...(page.cursor ? { cursor: { id: page.cursor }, skip: 1 } : {}),
  });
  const products = rows.slice(0, page.limit).map(toView);
  return { products, nextCursor: rows.length > page.limit ? products.at(-1)!.id : null };
}

export async function getProduct(db: Db, productId: string): Promise<ProductView> {
  const product = await db.product.findFirst({ where: { id: productId, ...purchasable }, include: withVariants });
  if (!product) throw new NotFoundError('product', productId);
  return toView(product);
}
