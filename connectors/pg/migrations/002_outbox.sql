-- The outbox (issue 6): every notification is first a row, committed in the same transaction as
-- whatever caused it. Workers of any instance claim due rows (FOR UPDATE SKIP LOCKED, with a
-- lease in locked_until), send them and record the outcome; gateway/outbox/outbox.h states the
-- contract (at-least-once, the idempotency key travels with every attempt).
--
-- next_attempt_at is when a worker should next look at the row: for a pending row its next
-- try (backoff), for a sending row the end of its lease (the claim sets both), so one partial
-- index finds every due row, and a sending row whose worker died is due again once its lease
-- ran out.
CREATE TABLE outbox (
    id bigserial PRIMARY KEY,
    corp text NOT NULL,
    channel text NOT NULL,
    target text NOT NULL DEFAULT '',
    -- json, not jsonb: validated on insert, kept byte for byte, so a webhook receives exactly the
    -- document its producer queued, and reading it back costs no re-serialization.
    payload json NOT NULL,
    idempotency_key text NOT NULL,
    status text NOT NULL DEFAULT 'pending',
    attempts int NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    locked_until timestamptz,
    last_error text,
    created_at timestamptz NOT NULL DEFAULT now(),
    sent_at timestamptz,
    CONSTRAINT outbox_status_check CHECK (status IN ('pending', 'sending', 'sent', 'dead')),
    CONSTRAINT outbox_payload_check CHECK (json_typeof(payload) = 'object'),
    CONSTRAINT outbox_key_check CHECK (length(idempotency_key) BETWEEN 1 AND 200),
    -- A second insert with the same key is a no-op (INSERT ... ON CONFLICT DO NOTHING).
    CONSTRAINT outbox_corp_idempotency_key_key UNIQUE (corp, idempotency_key)
);

-- Due rows, oldest first; sent and dead rows leave the index. Every claim and every outcome
-- changes status, so no update is HOT: each index costs an insertion per state change, and the
-- table has no index it does not need.
CREATE INDEX outbox_due_idx ON outbox (next_attempt_at) WHERE status IN ('pending', 'sending');
-- `wegate outbox list --status dead`: the dead letters, found without scanning the sent rows.
CREATE INDEX outbox_dead_idx ON outbox (id) WHERE status = 'dead';

-- Wakes the workers (LISTEN outbox) when rows are committed, so that a notification goes out at
-- once rather than at the next poll. One notification per statement; PostgreSQL folds identical
-- ones within a transaction and delivers them at commit.
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('outbox', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();
