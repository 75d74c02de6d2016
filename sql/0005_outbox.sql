-- The outbox relay's stored functions (PRODUCT §5): claim, mark, fail, list,
-- prune and stats. The relay (accounts_gql/events/relay.py) runs no SQL of its own.
--
-- How a claim stays exclusive: the relay claims a batch inside a transaction and
-- keeps that transaction open while it publishes, then marks the rows and
-- commits. The row locks of FOR UPDATE are the claim. We chose this over a lease
-- column (claimed_until) because
--   * a relay that dies (crash, lost connection) releases its rows at once, when
--     PostgreSQL ends its session, instead of after a lease timeout;
--   * no clock (neither the relay's nor the server's) decides who owns a row, so a
--     slow publish can never outlive a lease and let a second relay send the
--     same rows concurrently, possibly out of order;
--   * nothing has to be written to claim, so a claim costs no extra WAL.
-- The cost is one open transaction per relay for the length of a publish (bounded
-- by the relay's publish timeout); it locks only the claimed outbox rows, so
-- writers (emit_event inserts new rows) are never blocked by it.
--
-- Order per aggregate: a row is claimable only when it is its aggregate's
-- earliest unpublished row (its "head"), and the rest of an aggregate's batch is
-- taken only together with its head. A relay that holds a head's lock therefore
-- owns the whole aggregate until it commits; another relay skips the head (SKIP
-- LOCKED) and cannot claim a later row, because an earlier one is unpublished.
-- Sequence order equals commit order per aggregate (emit_event serialises writers
-- of one aggregate on its aggregate_sequences row), so a stale snapshot can only
-- show more unpublished predecessors than there are, never fewer.

-- Finds an aggregate's unpublished predecessors without scanning published rows.
CREATE INDEX outbox_pending_aggregate_idx
    ON accounts.outbox (aggregate_type, aggregate_id, sequence)
    WHERE published_at IS NULL;

-- Claims up to p_limit due rows for publishing, locked until the caller's
-- transaction ends: first the heads of aggregates (oldest first), then their
-- following unpublished rows, taken in "waves" (every aggregate's 2nd row, then
-- every 3rd, ...) so that each aggregate's part of the batch is a prefix of its
-- unpublished rows. Rows come back in aggregate, sequence order.
CREATE FUNCTION accounts.outbox_claim(p_limit integer)
RETURNS SETOF accounts.outbox
LANGUAGE plpgsql AS $$
DECLARE
    v_heads     bigint[];
    v_positions bigint[];
BEGIN
    IF p_limit IS NULL OR p_limit < 1 THEN
        PERFORM accounts.raise_error('UA005', 'limit must be positive', 'limit');
    END IF;

    SELECT coalesce(array_agg(h.position), '{}') INTO v_heads
    FROM (
        SELECT o.position
        FROM accounts.outbox AS o
        WHERE o.published_at IS NULL
          AND o.next_attempt_at <= clock_timestamp()
          AND NOT EXISTS (
              SELECT 1 FROM accounts.outbox AS p
              WHERE p.published_at IS NULL
                AND p.aggregate_type = o.aggregate_type
                AND p.aggregate_id = o.aggregate_id
                AND p.sequence < o.sequence)
        ORDER BY o.position
        LIMIT p_limit
        FOR UPDATE OF o SKIP LOCKED
    ) AS h;

    IF cardinality(v_heads) = 0 THEN
        RETURN;
    END IF;

    -- Followers of the claimed heads. Nobody else can hold their locks: only the
    -- holder of a head takes its followers.
    SELECT coalesce(array_agg(f.position), '{}') INTO v_positions
    FROM (
        SELECT w.position
        FROM (
            SELECT o.position,
                   row_number() OVER (PARTITION BY o.aggregate_type, o.aggregate_id
                                      ORDER BY o.sequence) AS wave
            FROM accounts.outbox AS o
            JOIN accounts.outbox AS h
              ON h.position = ANY (v_heads)
             AND o.aggregate_type = h.aggregate_type
             AND o.aggregate_id = h.aggregate_id
             AND o.sequence >= h.sequence
            WHERE o.published_at IS NULL
        ) AS w
        ORDER BY w.wave, w.position
        LIMIT p_limit
    ) AS f;

    RETURN QUERY
        SELECT o.*
        FROM accounts.outbox AS o
        WHERE o.position = ANY (v_positions || v_heads)
          AND o.published_at IS NULL
        ORDER BY o.aggregate_type, o.aggregate_id, o.sequence
        FOR UPDATE OF o;
END $$;

-- Marks rows published (after the broker confirmed them); returns how many.
CREATE FUNCTION accounts.outbox_mark_published(p_positions bigint[])
RETURNS integer
LANGUAGE sql AS $$
    WITH marked AS (
        UPDATE accounts.outbox
        SET published_at = clock_timestamp(), attempts = attempts + 1
        WHERE position = ANY (p_positions) AND published_at IS NULL
        RETURNING 1)
    SELECT count(*)::integer FROM marked
$$;

-- Records a failed publish: attempts + 1, the error, and the next attempt after an
-- exponential backoff (p_base_seconds * 2^(attempts), at most p_max_seconds) with
-- "equal jitter" (between half and all of it), so relays that failed together do
-- not retry together. Returns how many rows were updated.
CREATE FUNCTION accounts.outbox_record_failure(
    p_positions bigint[], p_error text, p_base_seconds double precision,
    p_max_seconds double precision
) RETURNS integer
LANGUAGE sql AS $$
    WITH failed AS (
        UPDATE accounts.outbox
        SET attempts = attempts + 1,
            last_error = left(p_error, 1000),
            next_attempt_at = clock_timestamp() + make_interval(secs =>
                least(p_max_seconds, p_base_seconds * power(2, least(attempts, 30)))
                * (0.5 + random() / 2))
        WHERE position = ANY (p_positions) AND published_at IS NULL
        RETURNING 1)
    SELECT count(*)::integer FROM failed
$$;

-- Outbox rows for the `accounts-gql events` command: 'pending' (oldest first),
-- 'failed' (pending with at least one failed attempt, oldest first),
-- 'published' (most recent first) or 'all' (most recent first).
CREATE FUNCTION accounts.outbox_list(p_status text, p_limit integer)
RETURNS SETOF accounts.outbox
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF p_status = 'pending' THEN
        RETURN QUERY SELECT * FROM accounts.outbox WHERE published_at IS NULL
            ORDER BY position LIMIT p_limit;
    ELSIF p_status = 'failed' THEN
        RETURN QUERY SELECT * FROM accounts.outbox WHERE published_at IS NULL AND attempts > 0
            ORDER BY position LIMIT p_limit;
    ELSIF p_status = 'published' THEN
        RETURN QUERY SELECT * FROM accounts.outbox WHERE published_at IS NOT NULL
            ORDER BY published_at DESC, position DESC LIMIT p_limit;
    ELSIF p_status = 'all' THEN
        RETURN QUERY SELECT * FROM accounts.outbox ORDER BY position DESC LIMIT p_limit;
    ELSE
        PERFORM accounts.raise_error('UA005',
            format('status must be pending, failed, published or all, not %s', p_status),
            'status');
    END IF;
END $$;

-- Deletes up to p_limit rows published more than p_age ago; returns how many.
-- Called now and then by the relay; the bounded batch keeps each call short.
CREATE FUNCTION accounts.outbox_prune(p_age interval, p_limit integer)
RETURNS integer
LANGUAGE sql AS $$
    WITH doomed AS (
        SELECT position FROM accounts.outbox
        WHERE published_at IS NOT NULL AND published_at < now() - p_age
        ORDER BY published_at
        LIMIT p_limit
        FOR UPDATE SKIP LOCKED),
    deleted AS (
        DELETE FROM accounts.outbox AS o USING doomed AS d
        WHERE o.position = d.position
        RETURNING 1)
    SELECT count(*)::integer FROM deleted
$$;

-- How many rows wait to be published, and the age in seconds of the oldest
-- (NULL when none), for /readyz and the CLI.
CREATE FUNCTION accounts.outbox_stats()
RETURNS TABLE (pending bigint, oldest_pending_age double precision)
LANGUAGE sql STABLE AS $$
    SELECT count(*),
           extract(epoch FROM clock_timestamp() - min(created_at))::double precision
    FROM accounts.outbox
    WHERE published_at IS NULL
$$;
