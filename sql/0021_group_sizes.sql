-- Member counts kept, not counted: accounts.group_sizes.
--
-- group_member_counts (0004, 0015) counted each group's memberships on every
-- read: an index-only scan of the whole group, ~0.1 µs a member (~20 µs for a
-- group of 200, ~420 µs for a page of 20 such groups, more than reading the
-- groups themselves; docs/performance.md), so `memberCount` cost grew with the
-- group. A trigger on memberships now keeps each group's count in a row of
-- its own, as users.active_contacts is kept for contacts (0001), and the
-- function reads it: one primary-key lookup a group, whatever its size.
--
-- A table of its own, not a column of user_groups: the functions that return
-- SETOF accounts.user_groups keep their rows as they are, so a replica of the
-- previous release reads them unchanged during a rolling deploy, and a count's
-- update never touches the group's row (its version, its events).
--
-- Its price: every membership change updates the group's count row, locked
-- until commit. Membership changes of one group already serialize on the
-- group's row (group_for_update) and then on its event sequence (emit_event,
-- 0001: the group is the aggregate of membership events), and each function
-- takes the count between the two; an erasure (delete_user), which locks no
-- group row, takes each group's count and then its sequence in the order of
-- its one DELETE. So the count adds no wait and no lock order that was not
-- there.
-- A group with no count row, or a count of 0, has no members (the function
-- leaves it out, as it did).

CREATE TABLE accounts.group_sizes (
    group_id uuid   PRIMARY KEY REFERENCES accounts.user_groups (id) ON DELETE CASCADE,
    members  bigint NOT NULL CONSTRAINT group_sizes_members_not_negative CHECK (members >= 0)
);

CREATE FUNCTION accounts.count_group_members() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        UPDATE accounts.group_sizes SET members = members - 1 WHERE group_id = OLD.group_id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO accounts.group_sizes AS s (group_id, members) VALUES (NEW.group_id, 1)
        ON CONFLICT (group_id) DO UPDATE SET members = s.members + 1;
    END IF;
    RETURN NULL;
END $$;

-- No membership may change between the count below and the trigger: writers
-- wait for this migration's commit (readers do not).
LOCK TABLE accounts.user_group_memberships IN SHARE ROW EXCLUSIVE MODE;

INSERT INTO accounts.group_sizes (group_id, members)
SELECT group_id, count(*) FROM accounts.user_group_memberships GROUP BY group_id;

CREATE TRIGGER user_group_memberships_count
    AFTER INSERT OR DELETE OR UPDATE OF group_id ON accounts.user_group_memberships
    FOR EACH ROW EXECUTE FUNCTION accounts.count_group_members();

CREATE OR REPLACE FUNCTION accounts.group_member_counts(p_group_ids uuid[])
RETURNS TABLE (group_id uuid, member_count bigint)
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_generic_plan AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    SELECT s.group_id, s.members FROM accounts.group_sizes s
    WHERE s.group_id = ANY(p_group_ids) AND s.members > 0;
END $$;
