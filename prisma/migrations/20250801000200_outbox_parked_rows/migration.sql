-- An outbox row the broker refuses for good (e.g. larger than its message limit) is parked: the
-- relay stops trying it, so it no longer blocks every batch, and it stays for an operator.
ALTER TABLE "outbox" ADD COLUMN "parked_at" TIMESTAMPTZ(3),
ADD COLUMN "park_reason" TEXT;
