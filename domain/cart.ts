import { z } from 'zod';
import { inTransaction, sqlOf, type Db } from '../db/prisma.js';
import { type Sql } from '../db/sql.js';
import { uuidV5 } from './ids.js';
import { type Prisma } from '../generated/prisma/client.js';
import { ConflictError, NotFoundError, ValidationError } from './errors.js';
import { Decimal } from './money.js';
import { MAX_QUANTITY_PER_LINE, type OrderLine } from './orders.js';

/** Namespace of cart ids: a user has one cart, whose id follows from the user id. */
const CART_ID_NAMESPACE = '0d7f2a4e-9b1c-4c1e-8f3a-6a2b5c9d1e47';

export function cartIdFor(userId: string): string {
  return uuidV5(`cart:${userId}`, CART_ID_NAMESPACE);
}

export interface CartLineView {
  productId: string;
  variantId: string;
  name: string;
  quantity: number;
  unitPrice: Decimal;
  lineTotal: Decimal;
}

/** The caller's cart, priced at today's catalog prices (seed §1 Example 2). */
export interface CartView {
  cartId: string;
  items: CartLineView[];
  total: Decimal;
  currency: string | null;
}

const addItemSchema = z.strictObject({
  userId: z.string().min(1),
  productId: z.uuid(),
  variantId: z.uuid().optional(),
  quantity: z.number().int().min(1).max(MAX_QUANTITY_PER_LINE),
});
export type AddCartItemInput = z.input<typeof addItemSchema>;

const withItems = {
  items: {
    orderBy: { createdAt: 'asc' },
    include: { product: { select: { name: true } }, variant: { select: { name: true, price: true } } },
  },
} as const satisfies Prisma.CartInclude;

export async function getCart(db: Db, userId: string): Promise<CartView> {
  const cart = await db.cart.findUnique({ where: { userId }, include: withItems });
  const items = (cart?.items ?? []).map((item) => ({
    productId: item.productId,
    variantId: item.variantId,
    name: item.variant.name === item.product.name ? item.product.name : `${item.product.name} (${item.variant.name})`,
    quantity: item.quantity,
    unitPrice: item.variant.price,
    lineTotal: item.variant.price.mul(item.quantity),
  }));
  return {
    cartId: cart?.id ?? cartIdFor(userId),
    items,
    total: items.reduce((sum, i) => sum.add(i.lineTotal), new Decimal(0)),
    currency: items.length ? cart!.currency : null,
  };
}

/**
 * Adds units of a product (its default variant unless one is named) to the caller's cart. Adding
 * what is already there raises the quantity, up to the per-line maximum an order accepts.
 */
export async function addCartItem(db: Db, input: AddCartItemInput): Promise<CartView> {
  const parsed = addItemSchema.safeParse(input);
  if (!parsed.success) throw new ValidationError(z.prettifyError(parsed.error), { issues: parsed.error.issues });
  const { userId, productId, variantId, quantity } = parsed.data;
  return inTransaction(db, async (tx) => {
    const variant = await tx.productVariant.findFirst({
      where: { productId, active: true, product: { active: true }, ...(variantId ? { id: variantId } : {}) },
      orderBy: { position: 'asc' },
    });
    if (!variant) throw variantId ? new NotFoundError('variant', variantId) : new NotFoundError('product', productId);

    const cart = await tx.cart.upsert({
      where: { userId },
      create: { id: cartIdFor(userId), userId, currency: variant.currency },
      update: {},
      include: { _count: { select: { items: true } } },
    });
    if (cart._count.items > 0 && cart.currency !== variant.currency) {
      throw new ConflictError(`the cart is in ${cart.currency}; this product is priced in ${variant.currency}`);
    }
    if (cart._count.items === 0 && cart.currency !== variant.currency) {
      await tx.cart.update({ where: { id: cart.id }, data: { currency: variant.currency } });
    }
    const line = await tx.cartItem.upsert({
      where: { cartId_variantId: { cartId: cart.id, variantId: variant.id } },
      create: { cartId: cart.id, productId, variantId: variant.id, quantity },
      update: { quantity: { increment: quantity } },
    });
    if (line.quantity > MAX_QUANTITY_PER_LINE) {
      throw new ConflictError(`a cart line holds at most ${MAX_QUANTITY_PER_LINE} units (this one would hold ${line.quantity})`);
    }
    return getCart(tx, userId);
  });
}

/** Removes every line of a product from the caller's cart. */
export async function removeCartItem(db: Db, input: { userId: string; productId: string }): Promise<CartView> {
  return inTransaction(db, async (tx) => {
    const { count } = await tx.cartItem.deleteMany({
      where: { productId: input.productId, cart: { userId: input.userId } },
    });
    if (count === 0) throw new NotFoundError('cart item', input.productId);
    return getCart(tx, input.userId);
  });
}

/** The cart's lines as order lines, with the cart item ids to remove once the order is placed. */
export async function cartOrderLines(db: Db | Sql, userId: string): Promise<{ lines: OrderLine[]; cartItemIds: string[] }> {
  const items = await sqlOf(db).$queryRaw<{ id: string; productId: string; variantId: string; quantity: number }[]>`
    SELECT i.id::text AS id, i.product_id::text AS "productId", i.variant_id::text AS "variantId", i.quantity
    FROM cart_items i JOIN carts c ON c.id = i.cart_id
    WHERE c.user_id = ${userId}
    ORDER BY i.created_at`;
  if (items.length === 0) throw new ConflictError('the cart is empty');
  return {
    lines: items.map((i) => ({ productId: i.productId, variantId: i.variantId, quantity: i.quantity })),
    cartItemIds: items.map((i) => i.id),
  };
}

/** Empties the lines an order was placed from (lines added since stay in the cart). */
export async function removeOrderedCartLines(db: Db | Sql, cartItemIds: string[]): Promise<void> {
  await sqlOf(db).$executeRaw`DELETE FROM cart_items WHERE id = ANY(${cartItemIds}::uuid[])`;
}
