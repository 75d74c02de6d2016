-- Groups with their member counts, for a plan that reads both (sql/0021).
--
-- A group's `memberCount` was a call of its own in the group's statement
-- (group_member_counts, one more function call for PostgreSQL: its own query,
-- executor start and result set). groups_with_member_counts_by_ids returns
-- each group with its kept count, so the group's loader carries the count
-- (services/reads/sources.py, `KeyedRead.joins`) and the statement makes one
-- call where it made two. Asked for only when a plan follows the group by its
-- count: a function computes every column it returns whatever the statement
-- selects of them, so groups_by_ids stays for the reads that want no count.
-- The count as group_member_counts gives it (0 for a group without members).

CREATE FUNCTION accounts.groups_with_member_counts_by_ids(p_ids uuid[])
RETURNS TABLE (
    id uuid, slug text, name text, description text, version integer,
    created_at timestamptz, updated_at timestamptz, member_count bigint
)
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_generic_plan AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    SELECT g.id, g.slug, g.name, g.description, g.version, g.created_at, g.updated_at,
           coalesce((SELECT s.members FROM accounts.group_sizes s WHERE s.group_id = g.id), 0)
    FROM accounts.user_groups g
    WHERE g.id = ANY(p_ids);
END $$;
