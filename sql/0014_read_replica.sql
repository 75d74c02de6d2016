-- WAL positions for reads from a replica with read-your-writes (issue 15, part 2;
-- accounts_gql/db/replica.py). Positions are bytes since the start of WAL, as
-- bigint (an LSN "X/Y" is X * 2^32 + Y), so that the service compares them
-- without parsing.

-- The primary's WAL position now. Taken after a mutation has committed, it is at
-- or past the commit's record: a replica that has replayed up to it shows the
-- mutation (its consistency token).
CREATE FUNCTION accounts.wal_position() RETURNS bigint
LANGUAGE sql VOLATILE AS $$
    SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint
$$;

-- How far a server has replayed: on a standby its replay position, on a server
-- that is not in recovery (READ_DATABASE_URL naming a primary) its WAL
-- position, since it shows everything committed.
CREATE FUNCTION accounts.replay_position() RETURNS bigint
LANGUAGE sql VOLATILE AS $$
    SELECT (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn()
                 ELSE pg_current_wal_lsn() END - '0/0'::pg_lsn)::bigint
$$;
