-- Member pages without window functions: each group's page and the row beyond it.
--
-- member_pages (0004, 0008, 0015) numbered each group's rows and counted them
-- with two window functions, to return a page's rows with a has_more flag, and
-- sorted the result: two sorts and a window aggregate over every row, about
-- half of its cost (a page of 100: ~420-580 µs of backend CPU a call against
-- ~220-290 µs for this one, on the bench's database; docs/performance.md).
-- member_pages_with_next returns, for each group, its page in the page's
-- direction and one row more when there is more: up to p_size + 1 rows, in
-- (joined_at, user_id) order forward, descending backward (p_backward), each
-- group's rows together. The caller drops the extra row and reverses a backward
-- page (repositories/memberships.py, `pages`), and needs no flag: more rows
-- than the size means there is more.
-- The order is that of each group's LIMITed index scan, the groups in the order
-- of p_group_ids: a nested loop over the groups, no operator above it that
-- reorders (tests/sql/test_member_pages_bounds.py walks pages both ways).
-- Bounds as 0008 wrote them: always present, so that on the generic plan
-- (group_id = …, (joined_at, user_id) > …, … < …) bound the scan. Each
-- direction is its own query, so the plan of each is a plain index scan.
-- The size comes from the caller (the API's default applies there); a negative
-- one is refused as member_page_size refused it (UA005 on 'first' or 'last').
-- member_pages stays for replicas of the previous release during a rolling
-- deploy; a later migration drops it.

CREATE FUNCTION accounts.member_pages_with_next(
    p_group_ids uuid[], p_size integer, p_backward boolean,
    p_after_key text, p_after_id uuid, p_before_key text, p_before_id uuid, p_role text
) RETURNS TABLE (
    group_id uuid, user_id uuid, role text, joined_at timestamptz, added_by uuid
)
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_generic_plan AS $$
#variable_conflict use_column
DECLARE
    v_after_at timestamptz := CASE WHEN p_after_id IS NULL THEN '-infinity'
                                   ELSE p_after_key::timestamptz END;
    v_after_id uuid := coalesce(p_after_id, '00000000-0000-0000-0000-000000000000');
    v_before_at timestamptz := CASE WHEN p_before_id IS NULL THEN 'infinity'
                                    ELSE p_before_key::timestamptz END;
    v_before_id uuid := coalesce(p_before_id, 'ffffffff-ffff-ffff-ffff-ffffffffffff');
BEGIN
    IF p_size IS NULL OR p_size < 0 THEN
        PERFORM accounts.raise_error('UA005', 'page size must not be negative',
            CASE WHEN p_backward THEN 'last' ELSE 'first' END);
    END IF;
    IF NOT p_backward THEN
        RETURN QUERY
        SELECT m.group_id, m.user_id, m.role, m.joined_at, m.added_by
        FROM unnest(p_group_ids) AS g(id)
        CROSS JOIN LATERAL (
            SELECT m.group_id, m.user_id, m.role, m.joined_at, m.added_by
            FROM accounts.user_group_memberships m
            WHERE m.group_id = g.id
              AND (m.joined_at, m.user_id) > (v_after_at, v_after_id)
              AND (m.joined_at, m.user_id) < (v_before_at, v_before_id)
              AND (p_role IS NULL OR m.role = p_role)
            ORDER BY m.joined_at, m.user_id
            LIMIT p_size + 1
        ) AS m;
    ELSE
        RETURN QUERY
        SELECT m.group_id, m.user_id, m.role, m.joined_at, m.added_by
        FROM unnest(p_group_ids) AS g(id)
        CROSS JOIN LATERAL (
            SELECT m.group_id, m.user_id, m.role, m.joined_at, m.added_by
            FROM accounts.user_group_memberships m
            WHERE m.group_id = g.id
              AND (m.joined_at, m.user_id) > (v_after_at, v_after_id)
              AND (m.joined_at, m.user_id) < (v_before_at, v_before_id)
              AND (p_role IS NULL OR m.role = p_role)
            ORDER BY m.joined_at DESC, m.user_id DESC
            LIMIT p_size + 1
        ) AS m;
    END IF;
END $$;
