-- Callback events as received from WeCom, committed before the callback is answered (issue 4).
-- dedupe_key is the SHA-256 of the decrypted inner XML: a retry of the same callback (even
-- re-encrypted) hits the unique key and is stored once (PROTOCOL.md §2).
CREATE TABLE callback_events (
    id bigserial PRIMARY KEY,
    corp text NOT NULL,
    receiver text NOT NULL DEFAULT '',
    dedupe_key bytea NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    create_time bigint,
    msg_type text,
    event text,
    change_type text,
    user_id text,
    external_user_id text,
    chat_id text,
    msg_id text,
    agent_id text,
    xml text NOT NULL,
    status text NOT NULL DEFAULT 'pending',
    attempts int NOT NULL DEFAULT 0,
    last_error text,
    processed_at timestamptz,
    CONSTRAINT callback_events_status_check CHECK (status IN ('pending', 'done', 'failed')),
    CONSTRAINT callback_events_corp_dedupe_key_key UNIQUE (corp, dedupe_key)
);

-- The dispatcher takes pending events oldest first (FOR UPDATE SKIP LOCKED); the partial index
-- stays small because processed events leave it.
CREATE INDEX callback_events_pending_idx ON callback_events (id) WHERE status = 'pending';
