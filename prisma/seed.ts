import { pathToFileURL } from 'node:url';
import { loadConfig } from '../config/index.js';
import { createPrisma } from '../db/prisma.js';
import { systemClock } from '../domain/clock.js';
import { rebuildProductSearch } from '../read-models/search.js';
import { uuidV5 } from '../domain/ids.js';
import type { PrismaClient } from '../generated/prisma/client.js';
import { Decimal } from '../domain/money.js';

/** Ids are derived from slugs, SKUs and codes, so seeding twice updates the same rows. */
const SEED_NAMESPACE = '0c2b8f0e-7d1a-4e55-8f39-2b8f5a0f6d13';
const seedId = (kind: string, key: string) => uuidV5(`${kind}:${key}`, SEED_NAMESPACE);

export const warehouses = [
  { code: 'SFO-1', name: 'San Francisco Fulfilment Center', city: 'San Francisco', country: 'US' },
  { code: 'EWR-1', name: 'Newark Distribution Center', city: 'Newark', country: 'US' },
  { code: 'DFW-1', name: 'Dallas Regional Warehouse', city: 'Dallas', country: 'US' },
];

interface VariantSeed {
  name: string;
  attributes: Record<string, string>;
  price: string;
}

interface ProductSeed {
  slug: string;
  name: string;
  brand: string;
  category: string;
  description: string;
  variants: VariantSeed[];
}

const sizes = (price: string, ...names: string[]): VariantSeed[] => names.map((size) => ({ name: size, attributes: { size }, price }));
const colours = (price: string, ...names: string[]): VariantSeed[] =>
  names.map((colour) => ({ name: colour, attributes: { colour }, price }));
const single = (price: string): VariantSeed[] => [{ name: 'Standard', attributes: {}, price }];

const product = (slug: string, name: string, brand: string, category: string, description: string, variants: VariantSeed[]): ProductSeed => ({
  slug,
  name,
  brand,
  category,
  description,
  variants,
});

export const catalog: ProductSeed[] = [
  product('trail-runner-shoe', 'Trail Runner Shoe', 'Northpeak', 'footwear', 'Lightweight trail shoe with a grippy outsole.', sizes('89.99', '40', '41', '42', '43', '44')),
  product('city-sneaker', 'City Sneaker', 'Urbane', 'footwear', 'Low-top leather sneaker for every day.', sizes('74.50', '39', '40', '41', '42', '43')),
  product('wool-hiking-sock', 'Wool Hiking Sock', 'Northpeak', 'footwear', 'Merino blend, cushioned heel and toe.', sizes('14.99', 'S', 'M', 'L')),
  product('rain-boot', 'Rain Boot', 'Puddle & Co', 'footwear', 'Natural rubber boot, fully waterproof.', sizes('59.00', '38', '40', '42', '44')),
  product('organic-cotton-tee', 'Organic Cotton Tee', 'Basics Lab', 'apparel', 'Heavyweight crew-neck T-shirt.', sizes('29.99', 'S', 'M', 'L', 'XL')),
  product('fleece-hoodie', 'Fleece Hoodie', 'Basics Lab', 'apparel', 'Brushed fleece hoodie with kangaroo pocket.', sizes('64.00', 'S', 'M', 'L', 'XL')),
  product('packable-rain-jacket', 'Packable Rain Jacket', 'Northpeak', 'apparel', 'Seam-sealed shell that packs into its pocket.', colours('119.00', 'Black', 'Olive', 'Signal Orange')),
  product('selvedge-jeans', 'Selvedge Jeans', 'Indigo Mill', 'apparel', 'Raw selvedge denim, straight fit.', sizes('98.00', '30', '32', '34', '36')),
  product('merino-beanie', 'Merino Beanie', 'Northpeak', 'apparel', 'Rib-knit merino wool beanie.', colours('24.99', 'Charcoal', 'Navy', 'Rust')),
  product('linen-shirt', 'Linen Shirt', 'Coastline', 'apparel', 'Breathable linen button-down.', sizes('54.90', 'S', 'M', 'L')),
  product('daypack-20l', 'Daypack 20L', 'Northpeak', 'bags', 'Everyday backpack with laptop sleeve.', colours('79.95', 'Black', 'Sand')),
  product('travel-duffel-40l', 'Travel Duffel 40L', 'Roamwell', 'bags', 'Carry-on duffel with shoe compartment.', colours('129.00', 'Black', 'Forest')),
  product('canvas-tote', 'Canvas Tote', 'Basics Lab', 'bags', 'Heavy canvas tote with inner pocket.', single('19.99')),
  product('sling-bag', 'Sling Bag', 'Urbane', 'bags', 'Compact crossbody bag.', colours('39.00', 'Black', 'Grey')),
  product('wireless-earbuds', 'Wireless Earbuds', 'Sonique', 'electronics', 'Noise-cancelling earbuds, 24 h with case.', colours('149.00', 'Black', 'White')),
  product('over-ear-headphones', 'Over-Ear Headphones', 'Sonique', 'electronics', 'Closed-back headphones with 40 h battery.', colours('229.00', 'Black', 'Silver')),
  product('portable-speaker', 'Portable Speaker', 'Sonique', 'electronics', 'Waterproof Bluetooth speaker.', colours('89.00', 'Blue', 'Black', 'Red')),
  product('usb-c-charger-65w', 'USB-C Charger 65W', 'Voltix', 'electronics', 'GaN charger with two USB-C ports.', single('45.99')),
  product('power-bank-20k', 'Power Bank 20000 mAh', 'Voltix', 'electronics', 'Fast-charging power bank.', single('59.99')),
  product('mechanical-keyboard', 'Mechanical Keyboard', 'Keysmith', 'electronics', 'Hot-swappable 75% keyboard.', [
    { name: 'Linear switches', attributes: { switches: 'linear' }, price: '139.00' },
    { name: 'Tactile switches', attributes: { switches: 'tactile' }, price: '139.00' },
    { name: 'Clicky switches', attributes: { switches: 'clicky' }, price: '144.00' },
  ]),
  product('wireless-mouse', 'Wireless Mouse', 'Keysmith', 'electronics', 'Ergonomic mouse, silent clicks.', colours('49.00', 'Graphite', 'Pale Grey')),
  product('4k-monitor-27', '27" 4K Monitor', 'Pixelline', 'electronics', 'IPS panel, USB-C with 90 W power delivery.', single('449.00')),
  product('pour-over-kettle', 'Pour-Over Kettle', 'Brewhaus', 'kitchen', 'Gooseneck kettle with thermometer.', colours('42.00', 'Steel', 'Matte Black')),
  product('burr-coffee-grinder', 'Burr Coffee Grinder', 'Brewhaus', 'kitchen', 'Conical burrs, 40 grind settings.', single('129.99')),
  product('cast-iron-skillet', 'Cast Iron Skillet', 'Forge & Hearth', 'kitchen', 'Pre-seasoned skillet.', sizes('34.95', '20 cm', '26 cm', '30 cm')),
  product('chef-knife', "Chef's Knife 20 cm", 'Forge & Hearth', 'kitchen', 'Forged stainless steel blade.', single('79.00')),
  product('glass-food-containers', 'Glass Food Containers (set of 5)', 'Pantry', 'kitchen', 'Oven-safe glass with snap lids.', single('32.50')),
  product('stoneware-mug', 'Stoneware Mug', 'Pantry', 'kitchen', 'Hand-glazed 350 ml mug.', colours('16.00', 'Sage', 'Clay', 'Ink')),
  product('yoga-mat', 'Yoga Mat', 'Flowform', 'sports', 'Natural rubber mat, 4 mm.', colours('68.00', 'Moss', 'Sand', 'Black')),
  product('adjustable-dumbbells', 'Adjustable Dumbbells', 'Ironline', 'sports', 'Pair, 2-24 kg each.', single('299.00')),
  product('insulated-bottle', 'Insulated Bottle 750 ml', 'Northpeak', 'sports', 'Keeps drinks cold 24 h.', colours('29.00', 'Glacier', 'Black', 'Coral')),
  product('resistance-bands', 'Resistance Bands (set of 4)', 'Flowform', 'sports', 'Latex-free bands, four strengths.', single('21.99')),
  product('two-person-tent', 'Two-Person Tent', 'Northpeak', 'outdoors', 'Freestanding 3-season tent, 1.9 kg.', single('249.00')),
  product('down-sleeping-bag', 'Down Sleeping Bag', 'Northpeak', 'outdoors', '700-fill down, comfort 0 °C.', sizes('219.00', 'Regular', 'Long')),
  product('headlamp', 'Headlamp 400 lm', 'Lumen Trail', 'outdoors', 'Rechargeable headlamp with red mode.', single('34.99')),
  product('camp-stove', 'Camp Stove', 'Lumen Trail', 'outdoors', 'Compact canister stove.', single('49.50')),
  product('hardcover-notebook', 'Hardcover Notebook A5', 'Paperkind', 'stationery', 'Dotted, 192 pages.', colours('18.00', 'Black', 'Terracotta', 'Teal')),
  product('fountain-pen', 'Fountain Pen', 'Paperkind', 'stationery', 'Steel nib fountain pen.', sizes('36.00', 'Fine', 'Medium')),
  product('desk-lamp', 'LED Desk Lamp', 'Pixelline', 'home', 'Dimmable lamp with warm-to-cool light.', colours('58.00', 'White', 'Black')),
  product('linen-duvet-cover', 'Linen Duvet Cover', 'Coastline', 'home', 'Stone-washed linen.', sizes('149.00', 'Single', 'Double', 'King')),
];

/** Units of a variant in a warehouse on a fresh seed: varied, some zero, never random across runs. */
function initialUnits(sku: string, warehouseCode: string): number {
  const hash = Number.parseInt(uuidV5(`${sku}@${warehouseCode}`, SEED_NAMESPACE).slice(0, 8), 16);
  return hash % 7 === 0 ? 0 : 5 + (hash % 60);
}

export interface SeedSummary {
  warehouses: number;
  products: number;
  variants: number;
  stock: number;
}

/**
 * Loads the catalog, warehouses and stock. Idempotent: products, variants and warehouses are
 * upserted to the catalog above; stock is only created, never reset, so reseeding a live database
 * cannot take back units that orders hold.
 */
export async function seedCatalog(prisma: PrismaClient): Promise<SeedSummary> {
  let variants = 0;
  let stock = 0;
  for (const w of warehouses) {
    await prisma.warehouse.upsert({
      where: { code: w.code },
      create: { id: seedId('warehouse', w.code), ...w },
      update: { name: w.name, city: w.city, country: w.country },
    });
  }
  for (const p of catalog) {
    const productId = seedId('product', p.slug);
    const details = { name: p.name, brand: p.brand, category: p.category, description: p.description, active: true };
    await prisma.$transaction(async (tx) => {
      await tx.product.upsert({ where: { slug: p.slug }, create: { id: productId, slug: p.slug, ...details }, update: details });
      for (const [position, v] of p.variants.entries()) {
        const sku = `${p.slug}-${v.name}`.toUpperCase().replace(/[^A-Z0-9]+/g, '-');
        const variantId = seedId('variant', sku);
        const variant = { name: v.name, position, attributes: v.attributes, price: new Decimal(v.price), currency: 'USD', active: true };
        await tx.productVariant.upsert({ where: { sku }, create: { id: variantId, productId, sku, ...variant }, update: variant });
        variants += 1;
        for (const w of warehouses) {
          await tx.stock.upsert({
            where: { variantId_warehouseId: { variantId, warehouseId: seedId('warehouse', w.code) } },
            create: { id: seedId('stock', `${sku}@${w.code}`), variantId, warehouseId: seedId('warehouse', w.code), onHand: initialUnits(sku, w.code) },
            update: {},
          });
          stock += 1;
        }
      }
    });
  }
  return { warehouses: warehouses.length, products: catalog.length, variants, stock };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const prisma = createPrisma(loadConfig().postgres.url);
  try {
    const summary = await seedCatalog(prisma);
    console.log(
      `seeded ${summary.products} products, ${summary.variants} variants, ${summary.warehouses} warehouses, ${summary.stock} stock rows`,
    );
    console.log(`search read model rebuilt for ${await rebuildProductSearch(prisma, systemClock)} products`);
  } finally {
    await prisma.$disconnect();
  }
}
