import { Prisma } from '../generated/prisma/client.js';

export const Decimal = Prisma.Decimal;
export type Decimal = Prisma.Decimal;
export type DecimalValue = Decimal | string | number;

/** Amounts are kept as DECIMAL(12,2): two fraction digits in every currency the catalog uses. */
const MINOR_UNITS_PER_MAJOR = 100;

/** Minor units (cents) as payment providers take them: "59.98" → 5998. */
export function toMinorUnits(amount: DecimalValue): number {
  const minor = new Decimal(amount).mul(MINOR_UNITS_PER_MAJOR);
  if (!minor.isInteger()) throw new RangeError(`amount ${String(amount)} has more than two decimals`);
  return minor.toNumber();
}

/** An amount as the HTTP API and events show it (JSON number, like the seed's `29.99`): edges only. */
export function toApiAmount(amount: DecimalValue): number {
  return new Decimal(amount).toDecimalPlaces(2).toNumber();
}
