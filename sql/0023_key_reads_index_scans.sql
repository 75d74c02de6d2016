-- The batch reads by keys plan for tables held in memory.
--
-- Their statements run on generic plans (0015: plan_cache_mode =
-- force_generic_plan), which estimate `col = ANY(p_ids)` at ten rows whatever
-- the array holds. With the default random_page_cost of 4 (a random read four
-- times a sequential one, as on a spinning disk) those ten rows cost more by an
-- index scan than by a bitmap heap scan, so every call built a bitmap of its
-- rows and sorted them (users, contacts and memberships by key), and
-- groups_by_ids read the 200 groups whole to compare each with the array. At
-- 1.1, the value commonly used where the working set is cached or on SSDs,
-- the same statements are index scans that return the rows in the order of
-- the index (contacts and memberships need no sort) and stop at the keys, and
-- the groups are read through a bitmap of their keys
-- (tests/sql/test_key_read_plans.py, on the bench's seed).
-- Backend CPU of the composed statements, replayed on one idle connection and
-- paired with today's: Q1 0.87, Q2 0.81, Q3 0.96, a user's groups with their
-- members 0.86 (docs/performance.md).
--
-- Set on the functions rather than on the service's sessions, so that a
-- function's plan does not depend on who calls it; the page functions keep the
-- server's setting, as their plans were chosen under it (0016, 0019, 0020).

ALTER FUNCTION accounts.users_by_ids(uuid[]) SET random_page_cost = 1.1;
ALTER FUNCTION accounts.contact_types_by_ids(uuid[]) SET random_page_cost = 1.1;
ALTER FUNCTION accounts.contacts_by_user_ids(uuid[], boolean) SET random_page_cost = 1.1;
ALTER FUNCTION accounts.contacts_by_ids(uuid[]) SET random_page_cost = 1.1;
ALTER FUNCTION accounts.groups_by_ids(uuid[]) SET random_page_cost = 1.1;
ALTER FUNCTION accounts.groups_with_member_counts_by_ids(uuid[]) SET random_page_cost = 1.1;
ALTER FUNCTION accounts.memberships_by_user_ids(uuid[]) SET random_page_cost = 1.1;
ALTER FUNCTION accounts.group_member_counts(uuid[]) SET random_page_cost = 1.1;
