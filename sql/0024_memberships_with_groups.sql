-- Memberships with their groups, for a plan that reads both (as sql/0022 does
-- for groups and their member counts).
--
-- A user's groups were a call of their own in the user's statement
-- (groups_by_ids of the memberships' group ids: one more function call for
-- PostgreSQL, its own query, executor start and result set, and the ids
-- collected from the memberships' rows). memberships_with_groups_by_user_ids
-- returns each membership with its group's columns, so the membership loader
-- carries the group (services/reads/sources.py, `KeyedRead.joins`) and the
-- statement makes one call where it made two. Asked for only when a plan
-- follows the membership by its group and the group by nothing else:
-- memberships_by_user_ids stays for the reads that want no group.
--
-- Same rows and order as memberships_by_user_ids (a membership's group always
-- exists: the foreign key cascades). The join is a nested loop of key lookups:
-- its generic plan estimates ten users' memberships, for which a hash join that
-- reads every group costs about as much on paper, and a user has a few.
-- Backend CPU of Q1's statement on one idle connection, with the join as a
-- scratch function, paired with today's: 0.87 (a hash join: 1.27).

CREATE FUNCTION accounts.memberships_with_groups_by_user_ids(p_user_ids uuid[])
RETURNS TABLE (
    user_id uuid, group_id uuid, role text, joined_at timestamptz, added_by uuid,
    group_slug text, group_name text, group_description text, group_version integer,
    group_created_at timestamptz, group_updated_at timestamptz
)
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_generic_plan
SET random_page_cost = 1.1
SET enable_hashjoin = off
SET enable_mergejoin = off AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    SELECT m.user_id, m.group_id, m.role, m.joined_at, m.added_by,
           g.slug, g.name, g.description, g.version, g.created_at, g.updated_at
    FROM accounts.user_group_memberships m
    JOIN accounts.user_groups g ON g.id = m.group_id
    WHERE m.user_id = ANY(p_user_ids)
    ORDER BY m.user_id, m.joined_at, m.group_id;
END $$;
