-- Member pages: cursor bounds that stay index conditions on a generic plan, and
-- page sizes checked in the database too.
--
-- In 0004 each bound was written "(p_after_id IS NULL OR (joined_at, user_id) > …)".
-- Functions' SQL is planned generically (parameter values unknown), and an OR with
-- a parameter test cannot be an index condition: the range scan of
-- memberships_group_idx (group_id, joined_at, user_id) started at the group's first
-- (or, backward, last) member and filtered up to the cursor, O(offset) per page.
-- Here both bounds are always present, an absent cursor standing for the end of the
-- key space, so that (group_id = …, (joined_at, user_id) > …, … < …) bound the scan.
-- The sentinels cannot collide with a member: joined_at is finite
-- (clock_timestamp()) and user ids are random (version 4) uuids, never nil or max.
-- A cursor whose id is given but whose key is NULL still matches nothing, as before.

-- The page size of member_pages: last, else first, else 20; negative ones are
-- refused (UA005 on the argument given), where 0004 raised a raw LIMIT error.
CREATE FUNCTION accounts.member_page_size(p_first integer, p_last integer) RETURNS integer
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF coalesce(p_last, p_first, 20) < 0 THEN
        PERFORM accounts.raise_error('UA005', 'page size must not be negative',
            CASE WHEN p_last IS NOT NULL THEN 'last' ELSE 'first' END);
    END IF;
    RETURN coalesce(p_last, p_first, 20);
END $$;

-- Same signature, result and order as in 0004; only the bounds and the size changed.
CREATE OR REPLACE FUNCTION accounts.member_pages(
    p_group_ids uuid[], p_first integer, p_last integer,
    p_after_key text, p_after_id uuid, p_before_key text, p_before_id uuid, p_role text
) RETURNS TABLE (
    group_id uuid, user_id uuid, role text, joined_at timestamptz, added_by uuid,
    has_more boolean
)
LANGUAGE sql STABLE AS $$
    WITH args AS (
        SELECT accounts.member_page_size(p_first, p_last) AS size,
               p_last IS NOT NULL AS backward,
               CASE WHEN p_after_id IS NULL THEN '-infinity'
                    ELSE p_after_key::timestamptz END AS after_at,
               coalesce(p_after_id, '00000000-0000-0000-0000-000000000000') AS after_id,
               CASE WHEN p_before_id IS NULL THEN 'infinity'
                    ELSE p_before_key::timestamptz END AS before_at,
               coalesce(p_before_id, 'ffffffff-ffff-ffff-ffff-ffffffffffff') AS before_id
    ), scan AS (
        SELECT page.*,
               row_number() OVER (PARTITION BY page.group_id
                                  ORDER BY CASE WHEN a.backward THEN NULL ELSE page.joined_at END,
                                           CASE WHEN a.backward THEN NULL ELSE page.user_id END,
                                           page.joined_at DESC, page.user_id DESC) AS n,
               count(*) OVER (PARTITION BY page.group_id) AS fetched
        FROM args a
        CROSS JOIN unnest(p_group_ids) AS g(id)
        CROSS JOIN LATERAL (
            (SELECT m.group_id, m.user_id, m.role, m.joined_at, m.added_by
             FROM accounts.user_group_memberships m
             WHERE NOT a.backward AND m.group_id = g.id
               AND (m.joined_at, m.user_id) > (a.after_at, a.after_id)
               AND (m.joined_at, m.user_id) < (a.before_at, a.before_id)
               AND (p_role IS NULL OR m.role = p_role)
             ORDER BY m.joined_at, m.user_id
             LIMIT a.size + 1)
            UNION ALL
            (SELECT m.group_id, m.user_id, m.role, m.joined_at, m.added_by
             FROM accounts.user_group_memberships m
             WHERE a.backward AND m.group_id = g.id
               AND (m.joined_at, m.user_id) > (a.after_at, a.after_id)
               AND (m.joined_at, m.user_id) < (a.before_at, a.before_id)
               AND (p_role IS NULL OR m.role = p_role)
             ORDER BY m.joined_at DESC, m.user_id DESC
             LIMIT a.size + 1)
        ) AS page
    )
    SELECT s.group_id, s.user_id, s.role, s.joined_at, s.added_by, s.fetched > a.size
    FROM scan s CROSS JOIN args a
    WHERE s.n <= a.size
    ORDER BY s.group_id, s.joined_at, s.user_id
$$;
