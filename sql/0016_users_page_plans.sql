-- Unfiltered pages of users on plans made once per connection.
--
-- users_page builds its statement per call and runs it by EXECUTE (0002), so
-- that a filter given becomes a plain predicate the planner can use; EXECUTE
-- plans on every call, and a page of 50 users spent more of its backend CPU
-- planning than reading (docs/database.md, "What a read costs"). Without a
-- filter the statement is one of six static queries (order key × scan
-- direction, and for usernames whether an upper bound is given), each
-- prepared and planned once per connection like any PL/pgSQL statement, with
-- plan_cache_mode = force_generic_plan. Their cursor bounds are always
-- present, an absent cursor standing for the end of the key space as in
-- 0008, so that on a generic plan they stay index conditions of
-- users_created_at_idx / users_username_order_idx: a deep page reads a page.
-- created_at is finite and ids are random (version 4) uuids, never nil or
-- max; every lowered username sorts after '' (names are 3 to 32 characters).
-- No text sorts after every username in every collation, so a username page
-- without an upper bound has queries of its own.
--
-- Any other call (a filter, an unknown order, a page size out of range) goes
-- to the statement-building function of before, renamed users_page_filtered,
-- which answers and raises exactly as users_page did. Same signature, rows,
-- order and errors; cursors are checked as before, only when given.

ALTER FUNCTION accounts.users_page(
    integer, integer, text, uuid, text, uuid, text, text, text, uuid, text
) RENAME TO users_page_filtered;

CREATE FUNCTION accounts.users_page(
    p_first integer, p_last integer,
    p_after_key text, p_after_id uuid, p_before_key text, p_before_id uuid,
    p_order text, p_search text, p_status text, p_group_id uuid, p_role text
) RETURNS TABLE (
    id uuid, username text, display_name text, profile jsonb, status text, roles text[],
    version integer, created_at timestamptz, updated_at timestamptz, has_more boolean
)
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_generic_plan AS $$
#variable_conflict use_column
DECLARE
    v_limit    integer := coalesce(p_last, p_first, 20);
    v_backward boolean := p_last IS NOT NULL;
    v_desc     boolean := p_order IN ('created_at_desc', 'username_desc');
    v_by_time  boolean := p_order IN ('created_at_asc', 'created_at_desc');
    v_scan_asc boolean;
    -- The scan's lower and upper bound: which cursor is which depends on the order.
    v_lo_key   text;
    v_lo_id    uuid;
    v_hi_key   text;
    v_hi_id    uuid;
    v_lo_at    timestamptz;
    v_hi_at    timestamptz;
BEGIN
    IF p_search IS NOT NULL OR p_status IS NOT NULL OR p_group_id IS NOT NULL
       OR p_role IS NOT NULL OR v_limit NOT BETWEEN 0 AND 1000
       OR p_order IS NULL
       OR p_order NOT IN ('created_at_asc', 'created_at_desc', 'username_asc', 'username_desc') THEN
        RETURN QUERY SELECT * FROM accounts.users_page_filtered(
            p_first, p_last, p_after_key, p_after_id, p_before_key, p_before_id,
            p_order, p_search, p_status, p_group_id, p_role);
        RETURN;
    END IF;
    IF p_after_id IS NOT NULL THEN
        PERFORM accounts.users_cursor_check(p_after_key, p_after_id, v_by_time, 'after');
    END IF;
    IF p_before_id IS NOT NULL THEN
        PERFORM accounts.users_cursor_check(p_before_key, p_before_id, v_by_time, 'before');
    END IF;
    IF v_desc THEN
        v_lo_key := p_before_key; v_lo_id := p_before_id; v_hi_key := p_after_key; v_hi_id := p_after_id;
    ELSE
        v_lo_key := p_after_key; v_lo_id := p_after_id; v_hi_key := p_before_key; v_hi_id := p_before_id;
    END IF;
    -- Backward pages scan against the order, from the "before" end.
    v_scan_asc := v_desc = v_backward;

    IF v_by_time THEN
        v_lo_at := CASE WHEN v_lo_id IS NULL THEN '-infinity' ELSE v_lo_key::timestamptz END;
        v_lo_id := coalesce(v_lo_id, '00000000-0000-0000-0000-000000000000');
        v_hi_at := CASE WHEN v_hi_id IS NULL THEN 'infinity' ELSE v_hi_key::timestamptz END;
        v_hi_id := coalesce(v_hi_id, 'ffffffff-ffff-ffff-ffff-ffffffffffff');
        IF v_scan_asc THEN
            RETURN QUERY
            SELECT p.id, p.username, p.display_name, p.profile, p.status, p.roles,
                   p.version, p.created_at, p.updated_at, p.fetched > v_limit
            FROM (SELECT u.*, row_number() OVER (ORDER BY u.created_at, u.id) AS n,
                         count(*) OVER () AS fetched
                  FROM (SELECT u.id, u.username, u.display_name, u.profile, u.status,
                               u.roles, u.version, u.created_at, u.updated_at
                        FROM accounts.users u
                        WHERE (u.created_at, u.id) > (v_lo_at, v_lo_id)
                          AND (u.created_at, u.id) < (v_hi_at, v_hi_id)
                        ORDER BY u.created_at, u.id
                        LIMIT v_limit + 1) u) p
            WHERE p.n <= v_limit
            ORDER BY CASE WHEN v_backward THEN -p.n ELSE p.n END;
        ELSE
            RETURN QUERY
            SELECT p.id, p.username, p.display_name, p.profile, p.status, p.roles,
                   p.version, p.created_at, p.updated_at, p.fetched > v_limit
            FROM (SELECT u.*, row_number() OVER (ORDER BY u.created_at DESC, u.id DESC) AS n,
                         count(*) OVER () AS fetched
                  FROM (SELECT u.id, u.username, u.display_name, u.profile, u.status,
                               u.roles, u.version, u.created_at, u.updated_at
                        FROM accounts.users u
                        WHERE (u.created_at, u.id) > (v_lo_at, v_lo_id)
                          AND (u.created_at, u.id) < (v_hi_at, v_hi_id)
                        ORDER BY u.created_at DESC, u.id DESC
                        LIMIT v_limit + 1) u) p
            WHERE p.n <= v_limit
            ORDER BY CASE WHEN v_backward THEN -p.n ELSE p.n END;
        END IF;
        RETURN;
    END IF;

    IF v_lo_id IS NULL THEN
        v_lo_key := '';
        v_lo_id := '00000000-0000-0000-0000-000000000000';
    END IF;
    IF v_scan_asc AND v_hi_id IS NULL THEN
        RETURN QUERY
        SELECT p.id, p.username, p.display_name, p.profile, p.status, p.roles,
               p.version, p.created_at, p.updated_at, p.fetched > v_limit
        FROM (SELECT u.*, row_number() OVER (ORDER BY lower(u.username), u.id) AS n,
                     count(*) OVER () AS fetched
              FROM (SELECT u.id, u.username, u.display_name, u.profile, u.status,
                           u.roles, u.version, u.created_at, u.updated_at
                    FROM accounts.users u
                    WHERE (lower(u.username), u.id) > (v_lo_key, v_lo_id)
                    ORDER BY lower(u.username), u.id
                    LIMIT v_limit + 1) u) p
        WHERE p.n <= v_limit
        ORDER BY CASE WHEN v_backward THEN -p.n ELSE p.n END;
    ELSIF v_scan_asc THEN
        RETURN QUERY
        SELECT p.id, p.username, p.display_name, p.profile, p.status, p.roles,
               p.version, p.created_at, p.updated_at, p.fetched > v_limit
        FROM (SELECT u.*, row_number() OVER (ORDER BY lower(u.username), u.id) AS n,
                     count(*) OVER () AS fetched
              FROM (SELECT u.id, u.username, u.display_name, u.profile, u.status,
                           u.roles, u.version, u.created_at, u.updated_at
                    FROM accounts.users u
                    WHERE (lower(u.username), u.id) > (v_lo_key, v_lo_id)
                      AND (lower(u.username), u.id) < (v_hi_key, v_hi_id)
                    ORDER BY lower(u.username), u.id
                    LIMIT v_limit + 1) u) p
        WHERE p.n <= v_limit
        ORDER BY CASE WHEN v_backward THEN -p.n ELSE p.n END;
    ELSIF v_hi_id IS NULL THEN
        RETURN QUERY
        SELECT p.id, p.username, p.display_name, p.profile, p.status, p.roles,
               p.version, p.created_at, p.updated_at, p.fetched > v_limit
        FROM (SELECT u.*, row_number() OVER (ORDER BY lower(u.username) DESC, u.id DESC) AS n,
                     count(*) OVER () AS fetched
              FROM (SELECT u.id, u.username, u.display_name, u.profile, u.status,
                           u.roles, u.version, u.created_at, u.updated_at
                    FROM accounts.users u
                    WHERE (lower(u.username), u.id) > (v_lo_key, v_lo_id)
                    ORDER BY lower(u.username) DESC, u.id DESC
                    LIMIT v_limit + 1) u) p
        WHERE p.n <= v_limit
        ORDER BY CASE WHEN v_backward THEN -p.n ELSE p.n END;
    ELSE
        RETURN QUERY
        SELECT p.id, p.username, p.display_name, p.profile, p.status, p.roles,
               p.version, p.created_at, p.updated_at, p.fetched > v_limit
        FROM (SELECT u.*, row_number() OVER (ORDER BY lower(u.username) DESC, u.id DESC) AS n,
                     count(*) OVER () AS fetched
              FROM (SELECT u.id, u.username, u.display_name, u.profile, u.status,
                           u.roles, u.version, u.created_at, u.updated_at
                    FROM accounts.users u
                    WHERE (lower(u.username), u.id) > (v_lo_key, v_lo_id)
                      AND (lower(u.username), u.id) < (v_hi_key, v_hi_id)
                    ORDER BY lower(u.username) DESC, u.id DESC
                    LIMIT v_limit + 1) u) p
        WHERE p.n <= v_limit
        ORDER BY CASE WHEN v_backward THEN -p.n ELSE p.n END;
    END IF;
END $$;
