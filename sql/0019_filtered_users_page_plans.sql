-- Filtered pages of users, and their counts, on plans made once per connection.
--
-- users_page_filtered (0002's statement builder, renamed by 0016) and
-- users_count built their statement per call and ran it by EXECUTE, so every
-- filtered page and totalCount was planned again (a search's plan alone
-- estimates ILIKE against the columns' statistics). Here they are PL/pgSQL
-- of static statements with plan_cache_mode = force_generic_plan, as in 0015
-- and 0016. A generic plan cannot see which filters are given or how many
-- users pass them, so the function picks the statements, each of which has a
-- good plan whatever the values:
--
-- * A group: its memberships lead (memberships_group_idx), each member's row
--   by users_pkey, the other filters tested on those rows, a top-N sort; it
--   reads the group, as counting its members does. (The planner's one-shot
--   plans walked users in the page's order probing each one's membership:
--   2,000 probes for a page of 20 of a group of 200 in 20,000.)
-- * Otherwise a window: users in the page's order from its cursor, as 0016's
--   unfiltered queries read them (bounds always present: index conditions),
--   the filters tested on each row, the scan stopping once the page and one
--   more are found. First twice the page (a common filter ends there), then,
--   if that was not enough, 20 times the page: a filter one user in 20 passes
--   is answered reading about a page divided by its share.
-- * A search that found nothing in the first window, of three letters or
--   digits in a row, reads its matches from the trigram indexes of 0010 (the
--   predicate written plainly, so that a generic plan uses them) and sorts
--   them if there are fewer than twice the page; where pg_trgm and so the
--   indexes are missing (the embedded server), this step is skipped.
-- * If the larger window ends short of the page, the rows of the most
--   selective filter given are read whole and sorted: a search from the
--   trigram indexes (a scan without them), a status from users_status_idx, a
--   role by a scan (no index holds roles). The window found the filter rare
--   here, so its rows are few, or the cursor lies deep in a common filter's
--   rows (the page from the other end is cheap).
--
-- Each path finds the page's ids in the scan's order, and one statement reads
-- their rows (users_pkey) in the requested order. Inside the function a
-- search is matched as lower(x) LIKE lower(pattern), which is what ILIKE does
-- in a multibyte database, lowering the pattern once instead of on each row;
-- the statements that should use the trigram indexes keep ILIKE. STABLE, so
-- every statement sees the calling statement's snapshot. The pattern is
-- computed here as like_pattern computes it (a definer SQL function is planned
-- on each call). Same signatures, rows, order and errors as before: the order,
-- then the page size, then the cursors are checked, with the same messages
-- and fields; users_page (0016) still sends here every call it does not
-- answer itself.

CREATE OR REPLACE FUNCTION accounts.users_page_filtered(
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
    v_pattern  text    := CASE WHEN nullif(btrim(p_search), '') IS NULL THEN NULL
                               ELSE '%' || regexp_replace(btrim(p_search), '([\\%_])', '\\\1', 'g') || '%' END;
    v_lpattern text    := lower(v_pattern);
    v_window   integer;
    v_scan_asc boolean;
    v_lo_key   text;
    v_lo_id    uuid;
    v_hi_key   text;
    v_hi_id    uuid;
    v_lo_at    timestamptz;
    v_hi_at    timestamptz;
    v_ids      uuid[];
    v_cut      boolean;
    v_budget   integer;
    v_found    bigint;
BEGIN
    IF p_order IS NULL
       OR p_order NOT IN ('created_at_asc', 'created_at_desc', 'username_asc', 'username_desc') THEN
        PERFORM accounts.raise_error('UA005', 'unknown order: ' || coalesce(p_order, 'null'), 'orderBy');
    END IF;
    IF v_limit < 0 OR v_limit > 1000 THEN
        PERFORM accounts.raise_error('UA005', 'page size must be between 0 and 1000',
            CASE WHEN v_backward THEN 'last' ELSE 'first' END);
    END IF;
    IF p_after_id IS NOT NULL THEN
        PERFORM accounts.users_cursor_check(p_after_key, p_after_id, v_by_time, 'after');
    END IF;
    IF p_before_id IS NOT NULL THEN
        PERFORM accounts.users_cursor_check(p_before_key, p_before_id, v_by_time, 'before');
    END IF;
    -- The scan's lower and upper bound: which cursor is which depends on the order.
    IF v_desc THEN
        v_lo_key := p_before_key; v_lo_id := p_before_id; v_hi_key := p_after_key; v_hi_id := p_after_id;
    ELSE
        v_lo_key := p_after_key; v_lo_id := p_after_id; v_hi_key := p_before_key; v_hi_id := p_before_id;
    END IF;
    -- Backward pages scan against the order, from the "before" end.
    v_scan_asc := v_desc = v_backward;
    -- An absent bound is the end of the key space (see 0016).
    IF v_by_time THEN
        v_lo_at := CASE WHEN v_lo_id IS NULL THEN '-infinity' ELSE v_lo_key::timestamptz END;
        v_hi_at := CASE WHEN v_hi_id IS NULL THEN 'infinity' ELSE v_hi_key::timestamptz END;
        v_hi_id := coalesce(v_hi_id, 'ffffffff-ffff-ffff-ffff-ffffffffffff');
    ELSIF v_lo_id IS NULL THEN
        v_lo_key := '';
    END IF;
    v_lo_id := coalesce(v_lo_id, '00000000-0000-0000-0000-000000000000');

    IF p_group_id IS NOT NULL THEN
        SELECT array_agg(w.id) INTO v_ids
        FROM (SELECT u.id
              FROM accounts.user_group_memberships m
              JOIN accounts.users u ON u.id = m.user_id
              WHERE m.group_id = p_group_id
                AND (v_lpattern IS NULL OR lower(u.username) LIKE v_lpattern
                     OR lower(u.display_name) LIKE v_lpattern)
                AND (p_status IS NULL OR u.status = p_status)
                AND (p_role IS NULL OR p_role = ANY(u.roles))
                AND CASE WHEN v_by_time
                         THEN (u.created_at, u.id) > (v_lo_at, v_lo_id)
                              AND (u.created_at, u.id) < (v_hi_at, v_hi_id)
                         ELSE (lower(u.username), u.id) > (v_lo_key, v_lo_id)
                              AND (v_hi_id IS NULL OR (lower(u.username), u.id) < (v_hi_key, v_hi_id))
                    END
              ORDER BY CASE WHEN v_by_time AND v_scan_asc THEN u.created_at END,
                       CASE WHEN v_by_time AND NOT v_scan_asc THEN u.created_at END DESC,
                       CASE WHEN NOT v_by_time AND v_scan_asc THEN lower(u.username) END,
                       CASE WHEN NOT v_by_time AND NOT v_scan_asc THEN lower(u.username) END DESC,
                       CASE WHEN v_scan_asc THEN u.id END,
                       CASE WHEN NOT v_scan_asc THEN u.id END DESC
              LIMIT v_limit + 1) w;
    ELSE
        -- The window: users in the scan's order, numbered; a row that passes
        -- the filters is kept, and so is the window's last row (r = v_window),
        -- which marks that the window ended before the users in range did.
        -- First a probe of twice the page: a common filter's page is there.
        v_window := 2 * (v_limit + 1);
        LOOP
            IF v_by_time AND v_scan_asc THEN
                SELECT array_agg(w.id ORDER BY w.r) FILTER (WHERE w.hit), coalesce(bool_or(w.r = v_window), false)
                INTO v_ids, v_cut
                FROM (SELECT s.id, s.r, s.hit
                      FROM (SELECT s.id, s.created_at,
                                   row_number() OVER (ORDER BY s.created_at, s.id) AS r,
                                   (v_lpattern IS NULL OR lower(s.username) LIKE v_lpattern
                                        OR lower(s.display_name) LIKE v_lpattern)
                                   AND (p_status IS NULL OR s.status = p_status)
                                   AND (p_role IS NULL OR p_role = ANY(s.roles)) AS hit
                            FROM (SELECT u.id, u.created_at, u.username, u.display_name, u.status, u.roles
                                  FROM accounts.users u
                                  WHERE (u.created_at, u.id) > (v_lo_at, v_lo_id)
                                    AND (u.created_at, u.id) < (v_hi_at, v_hi_id)
                                  ORDER BY u.created_at, u.id
                                  LIMIT v_window) s) s
                      WHERE s.hit OR s.r = v_window
                      ORDER BY s.created_at, s.id
                      LIMIT v_limit + 1) w;
            ELSIF v_by_time THEN
                SELECT array_agg(w.id ORDER BY w.r) FILTER (WHERE w.hit), coalesce(bool_or(w.r = v_window), false)
                INTO v_ids, v_cut
                FROM (SELECT s.id, s.r, s.hit
                      FROM (SELECT s.id, s.created_at,
                                   row_number() OVER (ORDER BY s.created_at DESC, s.id DESC) AS r,
                                   (v_lpattern IS NULL OR lower(s.username) LIKE v_lpattern
                                        OR lower(s.display_name) LIKE v_lpattern)
                                   AND (p_status IS NULL OR s.status = p_status)
                                   AND (p_role IS NULL OR p_role = ANY(s.roles)) AS hit
                            FROM (SELECT u.id, u.created_at, u.username, u.display_name, u.status, u.roles
                                  FROM accounts.users u
                                  WHERE (u.created_at, u.id) > (v_lo_at, v_lo_id)
                                    AND (u.created_at, u.id) < (v_hi_at, v_hi_id)
                                  ORDER BY u.created_at DESC, u.id DESC
                                  LIMIT v_window) s) s
                      WHERE s.hit OR s.r = v_window
                      ORDER BY s.created_at DESC, s.id DESC
                      LIMIT v_limit + 1) w;
            -- No text sorts after every username: without an upper bound, a query of its own.
            ELSIF v_scan_asc AND v_hi_id IS NULL THEN
                SELECT array_agg(w.id ORDER BY w.r) FILTER (WHERE w.hit), coalesce(bool_or(w.r = v_window), false)
                INTO v_ids, v_cut
                FROM (SELECT s.id, s.r, s.hit
                      FROM (SELECT s.id, s.name,
                                   row_number() OVER (ORDER BY s.name, s.id) AS r,
                                   (v_lpattern IS NULL OR s.name LIKE v_lpattern OR lower(s.display_name) LIKE v_lpattern)
                                   AND (p_status IS NULL OR s.status = p_status)
                                   AND (p_role IS NULL OR p_role = ANY(s.roles)) AS hit
                            FROM (SELECT u.id, lower(u.username) AS name, u.username, u.display_name,
                                         u.status, u.roles
                                  FROM accounts.users u
                                  WHERE (lower(u.username), u.id) > (v_lo_key, v_lo_id)
                                  ORDER BY lower(u.username), u.id
                                  LIMIT v_window) s) s
                      WHERE s.hit OR s.r = v_window
                      ORDER BY s.name, s.id
                      LIMIT v_limit + 1) w;
            ELSIF v_scan_asc THEN
                SELECT array_agg(w.id ORDER BY w.r) FILTER (WHERE w.hit), coalesce(bool_or(w.r = v_window), false)
                INTO v_ids, v_cut
                FROM (SELECT s.id, s.r, s.hit
                      FROM (SELECT s.id, s.name,
                                   row_number() OVER (ORDER BY s.name, s.id) AS r,
                                   (v_lpattern IS NULL OR s.name LIKE v_lpattern OR lower(s.display_name) LIKE v_lpattern)
                                   AND (p_status IS NULL OR s.status = p_status)
                                   AND (p_role IS NULL OR p_role = ANY(s.roles)) AS hit
                            FROM (SELECT u.id, lower(u.username) AS name, u.username, u.display_name,
                                         u.status, u.roles
                                  FROM accounts.users u
                                  WHERE (lower(u.username), u.id) > (v_lo_key, v_lo_id)
                                    AND (lower(u.username), u.id) < (v_hi_key, v_hi_id)
                                  ORDER BY lower(u.username), u.id
                                  LIMIT v_window) s) s
                      WHERE s.hit OR s.r = v_window
                      ORDER BY s.name, s.id
                      LIMIT v_limit + 1) w;
            ELSIF v_hi_id IS NULL THEN
                SELECT array_agg(w.id ORDER BY w.r) FILTER (WHERE w.hit), coalesce(bool_or(w.r = v_window), false)
                INTO v_ids, v_cut
                FROM (SELECT s.id, s.r, s.hit
                      FROM (SELECT s.id, s.name,
                                   row_number() OVER (ORDER BY s.name DESC, s.id DESC) AS r,
                                   (v_lpattern IS NULL OR s.name LIKE v_lpattern OR lower(s.display_name) LIKE v_lpattern)
                                   AND (p_status IS NULL OR s.status = p_status)
                                   AND (p_role IS NULL OR p_role = ANY(s.roles)) AS hit
                            FROM (SELECT u.id, lower(u.username) AS name, u.username, u.display_name,
                                         u.status, u.roles
                                  FROM accounts.users u
                                  WHERE (lower(u.username), u.id) > (v_lo_key, v_lo_id)
                                  ORDER BY lower(u.username) DESC, u.id DESC
                                  LIMIT v_window) s) s
                      WHERE s.hit OR s.r = v_window
                      ORDER BY s.name DESC, s.id DESC
                      LIMIT v_limit + 1) w;
            ELSE
                SELECT array_agg(w.id ORDER BY w.r) FILTER (WHERE w.hit), coalesce(bool_or(w.r = v_window), false)
                INTO v_ids, v_cut
                FROM (SELECT s.id, s.r, s.hit
                      FROM (SELECT s.id, s.name,
                                   row_number() OVER (ORDER BY s.name DESC, s.id DESC) AS r,
                                   (v_lpattern IS NULL OR s.name LIKE v_lpattern OR lower(s.display_name) LIKE v_lpattern)
                                   AND (p_status IS NULL OR s.status = p_status)
                                   AND (p_role IS NULL OR p_role = ANY(s.roles)) AS hit
                            FROM (SELECT u.id, lower(u.username) AS name, u.username, u.display_name,
                                         u.status, u.roles
                                  FROM accounts.users u
                                  WHERE (lower(u.username), u.id) > (v_lo_key, v_lo_id)
                                    AND (lower(u.username), u.id) < (v_hi_key, v_hi_id)
                                  ORDER BY lower(u.username) DESC, u.id DESC
                                  LIMIT v_window) s) s
                      WHERE s.hit OR s.r = v_window
                      ORDER BY s.name DESC, s.id DESC
                      LIMIT v_limit + 1) w;
            END IF;

            EXIT WHEN NOT v_cut OR coalesce(cardinality(v_ids), 0) > v_limit
                      OR v_window > 2 * (v_limit + 1);
            -- Nothing in the probe: a search of three letters or digits in a
            -- row, where the trigram indexes exist, reads its matches in range
            -- from them and sorts them, if they are few (fewer than v_budget);
            -- a term that has more goes on to the window.
            IF v_ids IS NULL AND v_pattern IS NOT NULL AND p_search ~ '[[:alnum:]]{3}'
               AND to_regclass('accounts.users_username_trgm_idx') IS NOT NULL
               AND to_regclass('accounts.users_display_name_trgm_idx') IS NOT NULL THEN
                v_budget := 2 * (v_limit + 1);
                SELECT array_agg(w.id ORDER BY w.n) FILTER (WHERE w.n <= v_limit + 1), count(*)
                INTO v_ids, v_found
                FROM (SELECT m.id,
                             row_number() OVER (
                                 ORDER BY CASE WHEN v_by_time AND v_scan_asc THEN m.created_at END,
                                          CASE WHEN v_by_time AND NOT v_scan_asc THEN m.created_at END DESC,
                                          CASE WHEN NOT v_by_time AND v_scan_asc THEN m.name END,
                                          CASE WHEN NOT v_by_time AND NOT v_scan_asc THEN m.name END DESC,
                                          CASE WHEN v_scan_asc THEN m.id END,
                                          CASE WHEN NOT v_scan_asc THEN m.id END DESC) AS n
                      FROM (SELECT u.id, u.created_at, lower(u.username) AS name
                            FROM accounts.users u
                            WHERE (u.username ILIKE v_pattern OR u.display_name ILIKE v_pattern)
                              AND (p_status IS NULL OR u.status = p_status)
                              AND (p_role IS NULL OR p_role = ANY(u.roles))
                              AND CASE WHEN v_by_time
                                       THEN (u.created_at, u.id) > (v_lo_at, v_lo_id)
                                            AND (u.created_at, u.id) < (v_hi_at, v_hi_id)
                                       ELSE (lower(u.username), u.id) > (v_lo_key, v_lo_id)
                                            AND (v_hi_id IS NULL OR (lower(u.username), u.id) < (v_hi_key, v_hi_id))
                                  END
                            LIMIT v_budget) m) w;
                v_cut := v_found >= v_budget;
                EXIT WHEN NOT v_cut;
            END IF;
            v_window := 20 * (v_limit + 1);
        END LOOP;

        -- The window ended short of the page: the filter's rows, read whole.
        IF v_cut AND coalesce(cardinality(v_ids), 0) <= v_limit THEN
            IF v_pattern IS NOT NULL THEN
                SELECT array_agg(w.id) INTO v_ids
                FROM (SELECT u.id
                      FROM accounts.users u
                      WHERE (u.username ILIKE v_pattern OR u.display_name ILIKE v_pattern)
                        AND (p_status IS NULL OR u.status = p_status)
                        AND (p_role IS NULL OR p_role = ANY(u.roles))
                        AND CASE WHEN v_by_time
                                 THEN (u.created_at, u.id) > (v_lo_at, v_lo_id)
                                      AND (u.created_at, u.id) < (v_hi_at, v_hi_id)
                                 ELSE (lower(u.username), u.id) > (v_lo_key, v_lo_id)
                                      AND (v_hi_id IS NULL OR (lower(u.username), u.id) < (v_hi_key, v_hi_id))
                            END
                      ORDER BY CASE WHEN v_by_time AND v_scan_asc THEN u.created_at END,
                               CASE WHEN v_by_time AND NOT v_scan_asc THEN u.created_at END DESC,
                               CASE WHEN NOT v_by_time AND v_scan_asc THEN lower(u.username) END,
                               CASE WHEN NOT v_by_time AND NOT v_scan_asc THEN lower(u.username) END DESC,
                               CASE WHEN v_scan_asc THEN u.id END,
                               CASE WHEN NOT v_scan_asc THEN u.id END DESC
                      LIMIT v_limit + 1) w;
            ELSIF p_status IS NOT NULL THEN
                SELECT array_agg(w.id) INTO v_ids
                FROM (SELECT u.id
                      FROM accounts.users u
                      WHERE u.status = p_status
                        AND (p_role IS NULL OR p_role = ANY(u.roles))
                        AND CASE WHEN v_by_time
                                 THEN (u.created_at, u.id) > (v_lo_at, v_lo_id)
                                      AND (u.created_at, u.id) < (v_hi_at, v_hi_id)
                                 ELSE (lower(u.username), u.id) > (v_lo_key, v_lo_id)
                                      AND (v_hi_id IS NULL OR (lower(u.username), u.id) < (v_hi_key, v_hi_id))
                            END
                      ORDER BY CASE WHEN v_by_time AND v_scan_asc THEN u.created_at END,
                               CASE WHEN v_by_time AND NOT v_scan_asc THEN u.created_at END DESC,
                               CASE WHEN NOT v_by_time AND v_scan_asc THEN lower(u.username) END,
                               CASE WHEN NOT v_by_time AND NOT v_scan_asc THEN lower(u.username) END DESC,
                               CASE WHEN v_scan_asc THEN u.id END,
                               CASE WHEN NOT v_scan_asc THEN u.id END DESC
                      LIMIT v_limit + 1) w;
            ELSE
                SELECT array_agg(w.id) INTO v_ids
                FROM (SELECT u.id
                      FROM accounts.users u
                      WHERE p_role = ANY(u.roles)
                        AND CASE WHEN v_by_time
                                 THEN (u.created_at, u.id) > (v_lo_at, v_lo_id)
                                      AND (u.created_at, u.id) < (v_hi_at, v_hi_id)
                                 ELSE (lower(u.username), u.id) > (v_lo_key, v_lo_id)
                                      AND (v_hi_id IS NULL OR (lower(u.username), u.id) < (v_hi_key, v_hi_id))
                            END
                      ORDER BY CASE WHEN v_by_time AND v_scan_asc THEN u.created_at END,
                               CASE WHEN v_by_time AND NOT v_scan_asc THEN u.created_at END DESC,
                               CASE WHEN NOT v_by_time AND v_scan_asc THEN lower(u.username) END,
                               CASE WHEN NOT v_by_time AND NOT v_scan_asc THEN lower(u.username) END DESC,
                               CASE WHEN v_scan_asc THEN u.id END,
                               CASE WHEN NOT v_scan_asc THEN u.id END DESC
                      LIMIT v_limit + 1) w;
            END IF;
        END IF;
    END IF;

    RETURN QUERY
    SELECT u.id, u.username, u.display_name, u.profile, u.status, u.roles,
           u.version, u.created_at, u.updated_at, cardinality(v_ids) > v_limit
    FROM unnest(v_ids[1:v_limit]) WITH ORDINALITY AS k (id, n)
    JOIN accounts.users u ON u.id = k.id
    ORDER BY CASE WHEN v_backward THEN -k.n ELSE k.n END;
END $$;

-- The size of the users connection under a filter: one statement per filter
-- that leads (a group's memberships, a search's trigram indexes, a status's
-- users_status_idx, index-only when alone; a role alone scans), the other
-- filters tested on its rows. Counting reads every matching row either way.
CREATE OR REPLACE FUNCTION accounts.users_count(
    p_search text, p_status text, p_group_id uuid, p_role text
) RETURNS bigint
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    v_pattern  text := CASE WHEN nullif(btrim(p_search), '') IS NULL THEN NULL
                            ELSE '%' || regexp_replace(btrim(p_search), '([\\%_])', '\\\1', 'g') || '%' END;
    v_lpattern text := lower(v_pattern);
    v_count    bigint;
BEGIN
    IF p_group_id IS NOT NULL THEN
        SELECT count(*) INTO v_count
        FROM accounts.user_group_memberships m
        JOIN accounts.users u ON u.id = m.user_id
        WHERE m.group_id = p_group_id
          AND (v_lpattern IS NULL OR lower(u.username) LIKE v_lpattern
               OR lower(u.display_name) LIKE v_lpattern)
          AND (p_status IS NULL OR u.status = p_status)
          AND (p_role IS NULL OR p_role = ANY(u.roles));
    ELSIF v_pattern IS NOT NULL THEN
        SELECT count(*) INTO v_count
        FROM accounts.users u
        WHERE (u.username ILIKE v_pattern OR u.display_name ILIKE v_pattern)
          AND (p_status IS NULL OR u.status = p_status)
          AND (p_role IS NULL OR p_role = ANY(u.roles));
    ELSIF p_status IS NOT NULL AND p_role IS NULL THEN
        -- From users_status_idx alone (an index-only scan).
        SELECT count(*) INTO v_count FROM accounts.users u WHERE u.status = p_status;
    ELSIF p_status IS NOT NULL THEN
        SELECT count(*) INTO v_count
        FROM accounts.users u
        WHERE u.status = p_status AND p_role = ANY(u.roles);
    ELSIF p_role IS NOT NULL THEN
        SELECT count(*) INTO v_count FROM accounts.users u WHERE p_role = ANY(u.roles);
    ELSE
        SELECT count(*) INTO v_count FROM accounts.users;
    END IF;
    RETURN v_count;
END $$;
