-- Batch reads whose plans are made once per connection, not once per call.
--
-- These functions were LANGUAGE sql, meant to be inlined into the calling
-- statement. Two things undid that (docs/database.md, "What a read costs"):
--   * inlined, the caller's prepared statement holds the function's query, and
--     its generic plan is estimated for an array of unknown length (ten
--     elements), dearer than a custom plan for the one or fifty ids given: the
--     plan cache picks a custom plan, so every call planned the query again
--     (Q1's contacts_by_user_ids: ~160 µs of backend CPU a call, ~35 µs of it
--     execution);
--   * every function of the schema runs as SECURITY DEFINER with a fixed
--     search_path (the migrate step of db/privileges.py), which PostgreSQL never
--     inlines; a LANGUAGE sql function that is not inlined is parsed and
--     planned on each call in PostgreSQL 15.
-- As PL/pgSQL their query is prepared once per connection and, with
-- plan_cache_mode = force_generic_plan in the function's own settings, planned
-- once: a generic plan, which for these queries is the custom one (an index
-- scan on = ANY(ids), a keyset range scan for member pages; 0008 wrote the
-- member page bounds for a generic plan). Same signatures, columns, rows and
-- order as before; errors are unchanged (member_page_size still raises UA005).
-- `#variable_conflict use_column`: the output columns of RETURNS TABLE are
-- variables in PL/pgSQL, and the queries mean the tables' columns.

CREATE OR REPLACE FUNCTION accounts.users_by_ids(p_ids uuid[]) RETURNS SETOF accounts.users
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_generic_plan AS $$
BEGIN
    RETURN QUERY SELECT * FROM accounts.users WHERE id = ANY(p_ids);
END $$;

CREATE OR REPLACE FUNCTION accounts.user_by_username(p_username text) RETURNS SETOF accounts.users
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_generic_plan AS $$
BEGIN
    RETURN QUERY SELECT * FROM accounts.users WHERE lower(username) = lower(p_username);
END $$;

CREATE OR REPLACE FUNCTION accounts.contact_types_list(p_include_inactive boolean DEFAULT false)
RETURNS SETOF accounts.contact_types
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_generic_plan AS $$
BEGIN
    RETURN QUERY SELECT * FROM accounts.contact_types
    WHERE p_include_inactive OR is_active
    ORDER BY code;
END $$;

CREATE OR REPLACE FUNCTION accounts.contact_types_by_ids(p_ids uuid[])
RETURNS SETOF accounts.contact_types
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_generic_plan AS $$
BEGIN
    RETURN QUERY SELECT * FROM accounts.contact_types WHERE id = ANY(p_ids);
END $$;

CREATE OR REPLACE FUNCTION accounts.contacts_by_user_ids(
    p_user_ids uuid[], p_include_inactive boolean DEFAULT false
) RETURNS TABLE (
    id uuid, user_id uuid, contact_type_id uuid, type_code text, value text,
    is_primary boolean, is_verified boolean, is_active boolean,
    created_at timestamptz, updated_at timestamptz, deactivated_at timestamptz
)
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_generic_plan AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    SELECT c.id, c.user_id, c.contact_type_id, t.code, c.value,
           c.is_primary, c.is_verified, c.is_active,
           c.created_at, c.updated_at, c.deactivated_at
    FROM accounts.user_contacts AS c
    JOIN accounts.contact_types AS t ON t.id = c.contact_type_id
    WHERE c.user_id = ANY(p_user_ids) AND (p_include_inactive OR c.is_active)
    ORDER BY c.user_id, c.created_at, c.id;
END $$;

CREATE OR REPLACE FUNCTION accounts.contacts_by_ids(p_ids uuid[])
RETURNS TABLE (
    id uuid, user_id uuid, contact_type_id uuid, type_code text, value text,
    is_primary boolean, is_verified boolean, is_active boolean,
    created_at timestamptz, updated_at timestamptz, deactivated_at timestamptz
)
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_generic_plan AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    SELECT c.id, c.user_id, c.contact_type_id, t.code, c.value,
           c.is_primary, c.is_verified, c.is_active,
           c.created_at, c.updated_at, c.deactivated_at
    FROM accounts.user_contacts AS c
    JOIN accounts.contact_types AS t ON t.id = c.contact_type_id
    WHERE c.id = ANY(p_ids);
END $$;

CREATE OR REPLACE FUNCTION accounts.groups_by_ids(p_ids uuid[]) RETURNS SETOF accounts.user_groups
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_generic_plan AS $$
BEGIN
    RETURN QUERY SELECT * FROM accounts.user_groups WHERE id = ANY(p_ids);
END $$;

CREATE OR REPLACE FUNCTION accounts.group_by_slug(p_slug text) RETURNS SETOF accounts.user_groups
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_generic_plan AS $$
BEGIN
    RETURN QUERY SELECT * FROM accounts.user_groups WHERE slug = lower(p_slug);
END $$;

CREATE OR REPLACE FUNCTION accounts.memberships_by_user_ids(p_user_ids uuid[])
RETURNS SETOF accounts.user_group_memberships
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_generic_plan AS $$
BEGIN
    RETURN QUERY SELECT * FROM accounts.user_group_memberships m
    WHERE m.user_id = ANY(p_user_ids)
    ORDER BY m.user_id, m.joined_at, m.group_id;
END $$;

CREATE OR REPLACE FUNCTION accounts.group_member_counts(p_group_ids uuid[])
RETURNS TABLE (group_id uuid, member_count bigint)
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_generic_plan AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    SELECT m.group_id, count(*) FROM accounts.user_group_memberships m
    WHERE m.group_id = ANY(p_group_ids)
    GROUP BY m.group_id;
END $$;

-- The query of 0008, unchanged.
CREATE OR REPLACE FUNCTION accounts.member_pages(
    p_group_ids uuid[], p_first integer, p_last integer,
    p_after_key text, p_after_id uuid, p_before_key text, p_before_id uuid, p_role text
) RETURNS TABLE (
    group_id uuid, user_id uuid, role text, joined_at timestamptz, added_by uuid,
    has_more boolean
)
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_generic_plan AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
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
    ORDER BY s.group_id, s.joined_at, s.user_id;
END $$;
