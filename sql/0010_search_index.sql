-- Trigram indexes that serve the users and groups searches (issue 13 item 6).
-- The searches are case-insensitive substring matches (ILIKE '%term%', see
-- accounts.like_pattern); a GIN index of trigrams (pg_trgm) answers them from
-- the trigrams of the term instead of a scan of every row. pg_trgm ships with
-- PostgreSQL's contrib modules and is a trusted extension, so the owner of the
-- database may create it; the embedded server's build has no contrib modules,
-- and there the searches stay scans, bounded by the term's length (at most 100
-- characters, services/bounds.py) and the statement timeout.

DO $$
DECLARE
    v_schema text;
BEGIN
    IF NOT EXISTS (SELECT FROM pg_available_extensions WHERE name = 'pg_trgm') THEN
        RAISE WARNING 'pg_trgm is not available on this server: user and group searches scan';
        RETURN;
    END IF;
    CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;
    -- Wherever it was installed (an operator may have done it beforehand).
    SELECT n.nspname INTO v_schema
    FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
    WHERE e.extname = 'pg_trgm';
    EXECUTE format('CREATE INDEX users_username_trgm_idx ON accounts.users'
                   ' USING gin (username %I.gin_trgm_ops)', v_schema);
    EXECUTE format('CREATE INDEX users_display_name_trgm_idx ON accounts.users'
                   ' USING gin (display_name %I.gin_trgm_ops)', v_schema);
    EXECUTE format('CREATE INDEX user_groups_slug_trgm_idx ON accounts.user_groups'
                   ' USING gin (slug %I.gin_trgm_ops)', v_schema);
    EXECUTE format('CREATE INDEX user_groups_name_trgm_idx ON accounts.user_groups'
                   ' USING gin (name %I.gin_trgm_ops)', v_schema);
END $$;

-- The groups count of a search, as users_count does it: a one-shot plan that
-- sees the pattern, so that it can read the trigram indexes (the SQL function's
-- generic plan kept "pattern IS NULL OR ..." and scanned every group).
CREATE OR REPLACE FUNCTION accounts.groups_count(p_search text) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_pattern text := accounts.like_pattern(p_search);
    v_count   bigint;
BEGIN
    IF v_pattern IS NULL THEN
        SELECT count(*) INTO v_count FROM accounts.user_groups;
    ELSE
        EXECUTE 'SELECT count(*) FROM accounts.user_groups g WHERE g.slug ILIKE $1 OR g.name ILIKE $1'
        INTO v_count
        USING v_pattern;
    END IF;
    RETURN v_count;
END $$;
