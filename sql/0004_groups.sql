-- Groups and memberships: reads (incl. the member pages of many groups) and writes.

CREATE INDEX user_groups_slug_order_idx ON accounts.user_groups (slug, id);
CREATE INDEX memberships_user_idx ON accounts.user_group_memberships (user_id, joined_at, group_id);

CREATE FUNCTION accounts.group_state(g accounts.user_groups) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object(
        'id', g.id, 'slug', g.slug, 'name', g.name, 'description', g.description,
        'version', g.version, 'created_at', g.created_at, 'updated_at', g.updated_at)
$$;

CREATE FUNCTION accounts.membership_state(m accounts.user_group_memberships) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object(
        'user_id', m.user_id, 'group_id', m.group_id, 'role', m.role,
        'joined_at', m.joined_at, 'added_by', m.added_by)
$$;

-- Reads ----------------------------------------------------------------------

CREATE FUNCTION accounts.groups_by_ids(p_ids uuid[]) RETURNS SETOF accounts.user_groups
LANGUAGE sql STABLE AS $$
    SELECT * FROM accounts.user_groups WHERE id = ANY(p_ids)
$$;

CREATE FUNCTION accounts.group_by_slug(p_slug text) RETURNS SETOF accounts.user_groups
LANGUAGE sql STABLE AS $$
    SELECT * FROM accounts.user_groups WHERE slug = lower(p_slug)
$$;

-- A keyset page of groups; the same contract as accounts.users_page.
CREATE FUNCTION accounts.groups_page(
    p_first integer, p_last integer,
    p_after_key text, p_after_id uuid, p_before_key text, p_before_id uuid,
    p_order text, p_search text
) RETURNS TABLE (
    id uuid, slug text, name text, description text, version integer,
    created_at timestamptz, updated_at timestamptz, has_more boolean
)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_backward boolean := p_last IS NOT NULL;
    v_limit    integer := coalesce(p_last, p_first, 20);
    v_key      text;
    v_cast     text;
    v_desc     boolean;
BEGIN
    CASE p_order
        WHEN 'slug_asc'        THEN v_key := 'g.slug';       v_cast := 'text';        v_desc := false;
        WHEN 'slug_desc'       THEN v_key := 'g.slug';       v_cast := 'text';        v_desc := true;
        WHEN 'created_at_asc'  THEN v_key := 'g.created_at'; v_cast := 'timestamptz'; v_desc := false;
        WHEN 'created_at_desc' THEN v_key := 'g.created_at'; v_cast := 'timestamptz'; v_desc := true;
        ELSE PERFORM accounts.raise_error('UA005', 'unknown order: ' || coalesce(p_order, 'null'), 'orderBy');
    END CASE;
    IF v_limit < 0 OR v_limit > 1000 THEN
        PERFORM accounts.raise_error('UA005', 'page size must be between 0 and 1000', 'first');
    END IF;
    RETURN QUERY EXECUTE format($q$
        WITH scan AS (
            SELECT g.id, g.slug, g.name, g.description, g.version, g.created_at, g.updated_at,
                   row_number() OVER (ORDER BY %1$s %4$s, g.id %4$s) AS n
            FROM (
                SELECT * FROM accounts.user_groups g
                WHERE ($1::text IS NULL OR g.slug ILIKE $1 OR g.name ILIKE $1)
                  AND ($2::uuid IS NULL OR (%1$s, g.id) %2$s ($3::%5$s, $2))
                  AND ($4::uuid IS NULL OR (%1$s, g.id) %3$s ($5::%5$s, $4))
                ORDER BY %1$s %4$s, g.id %4$s
                LIMIT $6 + 1
            ) g
        )
        SELECT s.id, s.slug, s.name, s.description, s.version, s.created_at, s.updated_at,
               (SELECT count(*) FROM scan) > $6
        FROM scan s
        WHERE s.n <= $6
        ORDER BY CASE WHEN $7 THEN -s.n ELSE s.n END
    $q$,
        v_key,
        CASE WHEN v_desc THEN '<' ELSE '>' END,
        CASE WHEN v_desc THEN '>' ELSE '<' END,
        CASE WHEN v_desc <> v_backward THEN 'DESC' ELSE 'ASC' END,
        v_cast)
    USING accounts.like_pattern(p_search), p_after_id, p_after_key, p_before_id, p_before_key,
          v_limit, v_backward;
END $$;

CREATE FUNCTION accounts.groups_count(p_search text) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT count(*) FROM accounts.user_groups g
    WHERE accounts.like_pattern(p_search) IS NULL
       OR g.slug ILIKE accounts.like_pattern(p_search) OR g.name ILIKE accounts.like_pattern(p_search)
$$;

CREATE FUNCTION accounts.memberships_by_user_ids(p_user_ids uuid[])
RETURNS SETOF accounts.user_group_memberships
LANGUAGE sql STABLE AS $$
    SELECT * FROM accounts.user_group_memberships
    WHERE user_id = ANY(p_user_ids)
    ORDER BY user_id, joined_at, group_id
$$;

-- Member counts; a group without members has no row (callers read it as 0).
CREATE FUNCTION accounts.group_member_counts(p_group_ids uuid[])
RETURNS TABLE (group_id uuid, member_count bigint)
LANGUAGE sql STABLE AS $$
    SELECT m.group_id, count(*) FROM accounts.user_group_memberships m
    WHERE m.group_id = ANY(p_group_ids)
    GROUP BY m.group_id
$$;

-- The member pages of many groups in one statement: per group a keyset range
-- scan of memberships_group_idx (LATERAL … LIMIT n + 1), ordered by
-- (joined_at, user_id), forward after a cursor or backward before one, with
-- has_more per group. New members join at the end, so pages never shift.
CREATE FUNCTION accounts.member_pages(
    p_group_ids uuid[], p_first integer, p_last integer,
    p_after_key text, p_after_id uuid, p_before_key text, p_before_id uuid, p_role text
) RETURNS TABLE (
    group_id uuid, user_id uuid, role text, joined_at timestamptz, added_by uuid,
    has_more boolean
)
LANGUAGE sql STABLE AS $$
    WITH args AS (
        SELECT coalesce(p_last, p_first, 20) AS size, p_last IS NOT NULL AS backward,
               p_after_key::timestamptz AS after_at, p_before_key::timestamptz AS before_at
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
               AND (p_role IS NULL OR m.role = p_role)
               AND (p_after_id IS NULL OR (m.joined_at, m.user_id) > (a.after_at, p_after_id))
               AND (p_before_id IS NULL OR (m.joined_at, m.user_id) < (a.before_at, p_before_id))
             ORDER BY m.joined_at, m.user_id
             LIMIT a.size + 1)
            UNION ALL
            (SELECT m.group_id, m.user_id, m.role, m.joined_at, m.added_by
             FROM accounts.user_group_memberships m
             WHERE a.backward AND m.group_id = g.id
               AND (p_role IS NULL OR m.role = p_role)
               AND (p_after_id IS NULL OR (m.joined_at, m.user_id) > (a.after_at, p_after_id))
               AND (p_before_id IS NULL OR (m.joined_at, m.user_id) < (a.before_at, p_before_id))
             ORDER BY m.joined_at DESC, m.user_id DESC
             LIMIT a.size + 1)
        ) AS page
    )
    SELECT s.group_id, s.user_id, s.role, s.joined_at, s.added_by, s.fetched > a.size
    FROM scan s CROSS JOIN args a
    WHERE s.n <= a.size
    ORDER BY s.group_id, s.joined_at, s.user_id
$$;

-- Writes ---------------------------------------------------------------------

CREATE FUNCTION accounts.group_check_fields(p_slug text, p_name text, p_description text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF p_slug IS NOT NULL AND p_slug !~ '^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$' THEN
        PERFORM accounts.raise_error('UA005',
            'slug must be 1 to 64 lower-case letters, digits or "-", not starting or ending with "-"',
            'slug');
    END IF;
    IF p_name IS NOT NULL AND char_length(btrim(p_name)) NOT BETWEEN 1 AND 100 THEN
        PERFORM accounts.raise_error('UA005', 'name must be 1 to 100 characters', 'name');
    END IF;
    IF p_description IS NOT NULL AND char_length(p_description) > 1000 THEN
        PERFORM accounts.raise_error('UA005', 'description must be at most 1000 characters', 'description');
    END IF;
END $$;

CREATE FUNCTION accounts.group_check_role(p_role text) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF p_role IS NULL OR p_role NOT IN ('member', 'manager', 'owner') THEN
        PERFORM accounts.raise_error('UA005', 'role must be member, manager or owner', 'role');
    END IF;
END $$;

-- Locks a group for a write (serialising member changes), checking its version.
CREATE FUNCTION accounts.group_for_update(p_id uuid, p_expected_version integer, p_field text)
RETURNS accounts.user_groups
LANGUAGE plpgsql AS $$
DECLARE
    v_group accounts.user_groups;
BEGIN
    SELECT * INTO v_group FROM accounts.user_groups WHERE id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM accounts.raise_error('UA001', 'no such group', p_field);
    END IF;
    IF p_expected_version IS NOT NULL AND p_expected_version <> v_group.version THEN
        PERFORM accounts.raise_error('UA004',
            format('the group is at version %s, not %s', v_group.version, p_expected_version),
            'expectedVersion', jsonb_build_object('current_version', v_group.version));
    END IF;
    RETURN v_group;
END $$;

CREATE FUNCTION accounts.insert_membership(
    p_group_id uuid, p_user_id uuid, p_role text, p_actor_id uuid
) RETURNS accounts.user_group_memberships
LANGUAGE plpgsql AS $$
DECLARE
    v_status     text;
    v_membership accounts.user_group_memberships;
BEGIN
    -- FOR SHARE waits for a concurrent deactivation or deletion of the user and
    -- then reads its outcome, so neither can slip in between check and insert.
    SELECT status INTO v_status FROM accounts.users WHERE id = p_user_id FOR SHARE;
    IF NOT FOUND THEN
        PERFORM accounts.raise_error('UA001', 'no such user', 'userId');
    END IF;
    IF v_status <> 'active' THEN
        PERFORM accounts.raise_error('UA010', 'a deactivated user cannot join a group', 'userId');
    END IF;
    BEGIN
        INSERT INTO accounts.user_group_memberships (user_id, group_id, role, added_by)
        VALUES (p_user_id, p_group_id, p_role,
                (SELECT id FROM accounts.users WHERE id = p_actor_id))
        RETURNING * INTO v_membership;
    EXCEPTION WHEN unique_violation THEN
        PERFORM accounts.raise_error('UA009', 'the user is already a member of the group', 'userId');
    END;
    PERFORM accounts.emit_event('membership.added', 'group', p_group_id,
        jsonb_build_object('membership', accounts.membership_state(v_membership)), p_actor_id);
    RETURN v_membership;
END $$;

-- Creates a group; p_owner_id, when given, joins it as owner in the same transaction.
CREATE FUNCTION accounts.create_group(
    p_slug text, p_name text, p_description text, p_owner_id uuid, p_actor_id uuid
) RETURNS accounts.user_groups
LANGUAGE plpgsql AS $$
DECLARE
    v_group accounts.user_groups;
BEGIN
    IF p_slug IS NULL THEN
        PERFORM accounts.raise_error('UA005', 'slug is required', 'slug');
    END IF;
    IF p_name IS NULL THEN
        PERFORM accounts.raise_error('UA005', 'name is required', 'name');
    END IF;
    PERFORM accounts.group_check_fields(p_slug, p_name, p_description);
    BEGIN
        INSERT INTO accounts.user_groups (slug, name, description)
        VALUES (p_slug, btrim(p_name), coalesce(p_description, ''))
        RETURNING * INTO v_group;
    EXCEPTION WHEN unique_violation THEN
        PERFORM accounts.raise_error('UA007', format('slug %s is taken', p_slug), 'slug');
    END;
    PERFORM accounts.emit_event('group.created', 'group', v_group.id,
        jsonb_build_object('group', accounts.group_state(v_group)), p_actor_id);
    IF p_owner_id IS NOT NULL THEN
        PERFORM accounts.insert_membership(v_group.id, p_owner_id, 'owner', p_actor_id);
    END IF;
    RETURN v_group;
END $$;

-- Changes the given fields (NULL keeps); a call that changes nothing emits nothing.
CREATE FUNCTION accounts.update_group(
    p_id uuid, p_slug text, p_name text, p_description text,
    p_expected_version integer, p_actor_id uuid
) RETURNS accounts.user_groups
LANGUAGE plpgsql AS $$
DECLARE
    v_before accounts.user_groups;
    v_after  accounts.user_groups;
BEGIN
    PERFORM accounts.group_check_fields(p_slug, p_name, p_description);
    v_before := accounts.group_for_update(p_id, p_expected_version, 'id');
    IF (p_slug IS NULL OR p_slug = v_before.slug)
       AND (p_name IS NULL OR btrim(p_name) = v_before.name)
       AND (p_description IS NULL OR p_description = v_before.description) THEN
        RETURN v_before;
    END IF;
    BEGIN
        UPDATE accounts.user_groups
        SET slug = coalesce(p_slug, slug), name = coalesce(btrim(p_name), name),
            description = coalesce(p_description, description),
            version = version + 1, updated_at = now()
        WHERE id = p_id
        RETURNING * INTO v_after;
    EXCEPTION WHEN unique_violation THEN
        PERFORM accounts.raise_error('UA007', format('slug %s is taken', p_slug), 'slug');
    END;
    PERFORM accounts.emit_event('group.updated', 'group', p_id,
        jsonb_build_object('group', accounts.group_state(v_after))
            || accounts.state_changes(accounts.group_state(v_before), accounts.group_state(v_after)),
        p_actor_id);
    RETURN v_after;
END $$;

CREATE FUNCTION accounts.delete_group(p_id uuid, p_expected_version integer, p_actor_id uuid)
RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
    v_group   accounts.user_groups;
    v_members bigint;
BEGIN
    v_group := accounts.group_for_update(p_id, p_expected_version, 'id');
    SELECT count(*) INTO v_members FROM accounts.user_group_memberships WHERE group_id = p_id;
    DELETE FROM accounts.user_groups WHERE id = p_id;
    PERFORM accounts.emit_event('group.deleted', 'group', p_id,
        jsonb_build_object('group', accounts.group_state(v_group), 'member_count', v_members),
        p_actor_id);
    RETURN p_id;
END $$;

CREATE FUNCTION accounts.add_group_member(
    p_group_id uuid, p_user_id uuid, p_role text, p_actor_id uuid
) RETURNS accounts.user_group_memberships
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM accounts.group_check_role(coalesce(p_role, 'member'));
    PERFORM accounts.group_for_update(p_group_id, NULL, 'groupId');
    RETURN accounts.insert_membership(p_group_id, p_user_id, coalesce(p_role, 'member'), p_actor_id);
END $$;

-- Locks the group, then returns the membership; none is a NotFound.
CREATE FUNCTION accounts.membership_for_update(p_group_id uuid, p_user_id uuid)
RETURNS accounts.user_group_memberships
LANGUAGE plpgsql AS $$
DECLARE
    v_membership accounts.user_group_memberships;
BEGIN
    PERFORM accounts.group_for_update(p_group_id, NULL, 'groupId');
    SELECT * INTO v_membership FROM accounts.user_group_memberships
    WHERE group_id = p_group_id AND user_id = p_user_id;
    IF NOT FOUND THEN
        PERFORM accounts.raise_error('UA001', 'the user is not a member of the group', 'userId');
    END IF;
    RETURN v_membership;
END $$;

-- A group that has owners keeps at least one (the group row lock taken by
-- membership_for_update makes two concurrent demotions see each other).
CREATE FUNCTION accounts.check_not_last_owner(p_membership accounts.user_group_memberships)
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF p_membership.role = 'owner' AND NOT EXISTS (
        SELECT 1 FROM accounts.user_group_memberships
        WHERE group_id = p_membership.group_id AND role = 'owner'
          AND user_id <> p_membership.user_id) THEN
        PERFORM accounts.raise_error('UA010', 'a group cannot lose its last owner', 'userId');
    END IF;
END $$;

CREATE FUNCTION accounts.change_member_role(
    p_group_id uuid, p_user_id uuid, p_role text, p_actor_id uuid
) RETURNS accounts.user_group_memberships
LANGUAGE plpgsql AS $$
DECLARE
    v_before accounts.user_group_memberships;
    v_after  accounts.user_group_memberships;
BEGIN
    PERFORM accounts.group_check_role(p_role);
    v_before := accounts.membership_for_update(p_group_id, p_user_id);
    IF v_before.role = p_role THEN
        RETURN v_before;
    END IF;
    PERFORM accounts.check_not_last_owner(v_before);
    UPDATE accounts.user_group_memberships SET role = p_role
    WHERE group_id = p_group_id AND user_id = p_user_id
    RETURNING * INTO v_after;
    PERFORM accounts.emit_event('membership.role_changed', 'group', p_group_id,
        jsonb_build_object('membership', accounts.membership_state(v_after),
                           'before', jsonb_build_object('role', v_before.role),
                           'after', jsonb_build_object('role', v_after.role)),
        p_actor_id);
    RETURN v_after;
END $$;

CREATE FUNCTION accounts.remove_group_member(p_group_id uuid, p_user_id uuid, p_actor_id uuid)
RETURNS accounts.user_group_memberships
LANGUAGE plpgsql AS $$
DECLARE
    v_membership accounts.user_group_memberships;
BEGIN
    v_membership := accounts.membership_for_update(p_group_id, p_user_id);
    PERFORM accounts.check_not_last_owner(v_membership);
    DELETE FROM accounts.user_group_memberships WHERE group_id = p_group_id AND user_id = p_user_id;
    PERFORM accounts.emit_event('membership.removed', 'group', p_group_id,
        jsonb_build_object('membership', accounts.membership_state(v_membership)), p_actor_id);
    RETURN v_membership;
END $$;
