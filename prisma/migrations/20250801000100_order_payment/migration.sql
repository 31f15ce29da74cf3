-- What the client paid with, stored with the order, so that the housekeeping schedule can start the
-- saga of an order left pending without one (workflows/housekeeping.ts). Orders placed before this
-- migration have none.
ALTER TABLE "orders" ADD COLUMN "payment_method" TEXT,
ADD COLUMN "payment_token" TEXT;

-- The housekeeping schedule looks for orders pending since before a point in time.
CREATE INDEX "orders_status_created_at_idx" ON "orders"("status", "created_at");
