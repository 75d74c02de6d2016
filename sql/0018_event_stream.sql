-- Account events as GraphQL subscriptions (PRODUCT §4; docs/subscriptions.md):
-- the commit order of the outbox, in which the subscriptions stream and resume.
--
-- Why not the outbox's position: positions are drawn at insert, and transactions
-- commit in another order, so a reader that saw position 12 committed may later
-- see 11 commit. Instead each row records its transaction id (`xid`), and
-- "ticks" record snapshots of the database, one after the other: an event
-- belongs to the first tick whose snapshot sees its transaction as finished. The
-- order of the stream is (tick, position); it is the same for every reader and
-- every replica of the service, and a reader that has seen tick N has seen every
-- event that will ever belong to a tick up to N:
--   * ticks are taken one at a time (an advisory lock held until the tick's
--     commit), so tick N+1's snapshot is taken after tick N committed: snapshots
--     grow in tick order, and readers see ticks as a prefix of their ids;
--   * a transaction visible in tick N's snapshot had committed before it, so by
--     the time anyone reads tick N its rows are visible to the reader too; a
--     transaction still running at tick N lands in a later tick, however old its
--     position.
-- Nothing is written per event beyond the 8 bytes of its xid: a tick is one row
-- per wake-up of a listener that found new events (at most one per
-- SUBSCRIPTION_TICK_INTERVAL per replica), and it never touches outbox rows, so
-- the relay's row locks and the stream never wait for each other.

-- The transaction of each row: the top-level transaction's id, also inside the
-- subtransactions of plpgsql exception blocks. Existing rows get the id of this
-- migration.
ALTER TABLE accounts.outbox ADD COLUMN xid xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX outbox_xid_idx ON accounts.outbox (xid);

CREATE TABLE accounts.event_ticks (
    tick       bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    snapshot   pg_snapshot NOT NULL,
    -- pg_snapshot_xmax(snapshot) (xmax is a system column): grows with tick, so an index on it finds the
    -- first tick that can see a transaction.
    horizon    xid8        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX event_ticks_xmax_idx ON accounts.event_ticks (horizon, tick);

-- The first tick, so that the events of the first real tick have a predecessor
-- (resuming needs one: see event_cursor).
INSERT INTO accounts.event_ticks (snapshot, horizon)
SELECT s, pg_snapshot_xmax(s) FROM pg_current_snapshot() AS s;

-- Events no subscription carries: they hold one-time codes, for the
-- notification service only (accounts_gql/events/registry.py, `sensitive`).
CREATE FUNCTION accounts.event_stream_withheld(p_event_type text)
RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT p_event_type IN ('contact.verification_requested', 'user.password_reset_requested')
$$;

-- Takes a tick when events committed since the last one; returns the newest tick.
-- Called by each replica's listener (accounts_gql/events/stream.py) on NOTIFY and
-- now and then; replicas woken together queue on the lock and find nothing new.
CREATE FUNCTION accounts.event_tick()
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_last     accounts.event_ticks;
    v_snapshot pg_snapshot;
    v_tick     bigint;
BEGIN
    -- One ticker at a time, until this transaction commits.
    PERFORM pg_advisory_xact_lock(hashtext('accounts.event_ticks'));
    -- Statements after the lock see the last ticker's commit.
    SELECT * INTO v_last FROM accounts.event_ticks AS t ORDER BY t.tick DESC LIMIT 1;
    v_snapshot := pg_current_snapshot();
    IF v_last.tick IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM accounts.outbox AS o
        WHERE o.xid >= pg_snapshot_xmin(v_last.snapshot)
          AND o.xid < pg_snapshot_xmax(v_snapshot)
          AND pg_visible_in_snapshot(o.xid, v_snapshot)
          AND NOT pg_visible_in_snapshot(o.xid, v_last.snapshot)
    ) THEN
        RETURN v_last.tick;
    END IF;
    INSERT INTO accounts.event_ticks (snapshot, horizon)
    VALUES (v_snapshot, pg_snapshot_xmax(v_snapshot))
    RETURNING tick INTO v_tick;
    RETURN v_tick;
END $$;

-- The newest tick (0 when there is none), without taking one.
CREATE FUNCTION accounts.event_last_tick()
RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT coalesce(max(tick), 0) FROM accounts.event_ticks
$$;

-- Events after (p_tick, p_position) in stream order, up to tick p_upto, at most
-- p_limit, withheld types left out. With each event: its tick, and the user,
-- group, session and role it concerns (what the visibility rules and the
-- subscriptions' end conditions look at), so that a reader can leave the payload
-- as text. The caller keeps p_upto - p_tick small (a window of ticks): each row's
-- tick is found among the window's ticks.
CREATE FUNCTION accounts.events_after(
    p_tick bigint, p_position bigint, p_upto bigint, p_limit integer
) RETURNS TABLE (
    tick bigint, "position" bigint, event_id uuid, event_type text, aggregate_type text,
    aggregate_id uuid, sequence bigint, payload jsonb, actor_id uuid, created_at timestamptz,
    user_id uuid, group_id uuid, session_id uuid, role text
)
LANGUAGE sql STABLE AS $$
    WITH bounds AS (
        SELECT
            (SELECT t.snapshot FROM accounts.event_ticks AS t
             WHERE t.tick < p_tick ORDER BY t.tick DESC LIMIT 1) AS before,
            (SELECT t.snapshot FROM accounts.event_ticks AS t WHERE t.tick = p_upto) AS upto
    )
    SELECT k.tick, o.position, o.event_id, o.event_type, o.aggregate_type, o.aggregate_id,
           o.sequence, o.payload, o.actor_id, o.created_at,
           CASE WHEN o.aggregate_type = 'user' THEN o.aggregate_id
                ELSE (o.payload #>> '{membership,user_id}')::uuid END,
           CASE WHEN o.aggregate_type = 'group' THEN o.aggregate_id END,
           (o.payload #>> '{session,id}')::uuid,
           o.payload #>> '{membership,role}'
    FROM bounds AS b
    JOIN accounts.outbox AS o
      ON o.xid < pg_snapshot_xmax(b.upto)
     AND pg_visible_in_snapshot(o.xid, b.upto)
     AND (b.before IS NULL
          OR (o.xid >= pg_snapshot_xmin(b.before) AND NOT pg_visible_in_snapshot(o.xid, b.before)))
    CROSS JOIN LATERAL (
        SELECT t.tick FROM accounts.event_ticks AS t
        WHERE t.tick >= p_tick AND t.tick <= p_upto AND t.horizon > o.xid
          AND pg_visible_in_snapshot(o.xid, t.snapshot)
        ORDER BY t.tick
        LIMIT 1
    ) AS k
    WHERE NOT accounts.event_stream_withheld(o.event_type)
      AND (k.tick, o.position) > (p_tick, p_position)
    ORDER BY k.tick, o.position
    LIMIT p_limit
$$;

-- Where the stream stands just after event p_event_id: its tick and position.
-- UA040 when the event is not kept (pruned, never recorded, or withheld), when
-- no tick has seen it yet, or when its tick has no kept predecessor (its place
-- in the order can no longer be told).
CREATE FUNCTION accounts.event_cursor(p_event_id uuid)
RETURNS TABLE (tick bigint, "position" bigint)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_xid      xid8;
    v_position bigint;
    v_tick     bigint;
BEGIN
    SELECT o.xid, o.position INTO v_xid, v_position
    FROM accounts.outbox AS o
    WHERE o.event_id = p_event_id AND NOT accounts.event_stream_withheld(o.event_type);
    IF v_position IS NOT NULL THEN
        SELECT t.tick INTO v_tick FROM accounts.event_ticks AS t
        WHERE t.horizon > v_xid AND pg_visible_in_snapshot(v_xid, t.snapshot)
        ORDER BY t.horizon, t.tick
        LIMIT 1;
    END IF;
    IF v_tick IS NULL
       OR NOT EXISTS (SELECT 1 FROM accounts.event_ticks AS t WHERE t.tick < v_tick) THEN
        PERFORM accounts.raise_error('UA040',
            'The event to resume after is not kept any more (or never was); '
            'subscribe without "after" and read what you missed with queries.', 'after');
    END IF;
    RETURN QUERY SELECT v_tick, v_position;
END $$;

-- Deletes up to p_limit ticks taken more than p_age ago, always keeping the
-- newest of those (the predecessor of the oldest tick a cursor may name).
CREATE FUNCTION accounts.event_ticks_prune(p_age interval, p_limit integer)
RETURNS integer
LANGUAGE sql AS $$
    WITH old AS (
        SELECT t.tick FROM accounts.event_ticks AS t
        WHERE t.created_at < clock_timestamp() - p_age
        ORDER BY t.tick DESC
        OFFSET 1
    ),
    doomed AS (
        SELECT tick FROM old ORDER BY tick LIMIT p_limit
    ),
    deleted AS (
        DELETE FROM accounts.event_ticks AS t USING doomed AS d
        WHERE t.tick = d.tick
        RETURNING 1
    )
    SELECT count(*)::integer FROM deleted
$$;
