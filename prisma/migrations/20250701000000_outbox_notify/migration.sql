-- Wakes the outbox relay (events/relay.ts LISTENs on "outbox_inserted") when outbox rows commit.
-- One notification per inserting statement, delivered at commit; the relay's polling covers any
-- that is missed (a relay that was not listening at the time).
CREATE FUNCTION "outbox_notify"() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('outbox_inserted', '');
  RETURN NULL;
END
$$;

CREATE TRIGGER "outbox_notify"
AFTER INSERT ON "outbox"
FOR EACH STATEMENT EXECUTE FUNCTION "outbox_notify"();
