-- Users: reads (batch, by username, keyset pages, count) and writes with events.

CREATE INDEX users_username_order_idx ON accounts.users (lower(username), id);

-- The state of a user as events carry it (PRODUCT §5). STABLE, not IMMUTABLE:
-- timestamps render in the session's TimeZone.
CREATE FUNCTION accounts.user_state(u accounts.users) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', u.id, 'username', u.username, 'display_name', u.display_name,
        'profile', u.profile, 'status', u.status, 'roles', to_jsonb(u.roles),
        'version', u.version, 'created_at', u.created_at, 'updated_at', u.updated_at)
$$;

-- RFC 7396 JSON Merge Patch: keys of the patch replace, null removes, objects merge.
CREATE FUNCTION accounts.jsonb_merge_patch(target jsonb, patch jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    v_result jsonb;
    v_key    text;
    v_value  jsonb;
BEGIN
    IF patch IS NULL OR jsonb_typeof(patch) <> 'object' THEN
        RETURN patch;
    END IF;
    v_result := CASE WHEN jsonb_typeof(target) = 'object' THEN target ELSE '{}'::jsonb END;
    FOR v_key, v_value IN SELECT key, value FROM jsonb_each(patch) LOOP
        IF jsonb_typeof(v_value) = 'null' THEN
            v_result := v_result - v_key;
        ELSE
            v_result := jsonb_set(
                v_result, ARRAY[v_key], accounts.jsonb_merge_patch(v_result -> v_key, v_value));
        END IF;
    END LOOP;
    RETURN v_result;
END $$;

-- Reads ----------------------------------------------------------------------

CREATE FUNCTION accounts.users_by_ids(p_ids uuid[]) RETURNS SETOF accounts.users
LANGUAGE sql STABLE AS $$
    SELECT * FROM accounts.users WHERE id = ANY(p_ids)
$$;

CREATE FUNCTION accounts.user_by_username(p_username text) RETURNS SETOF accounts.users
LANGUAGE sql STABLE AS $$
    SELECT * FROM accounts.users WHERE lower(username) = lower(p_username)
$$;

-- A search term as a case-insensitive substring pattern, its wildcards escaped.
CREATE FUNCTION accounts.like_pattern(p_search text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN nullif(btrim(p_search), '') IS NULL THEN NULL
                ELSE '%' || regexp_replace(btrim(p_search), '([\\%_])', '\\\1', 'g') || '%' END
$$;

-- The users connection's filter over the alias u, as SQL for EXECUTE with
-- $1 = LIKE pattern (see like_pattern), $2 = status, $3 = group id, $4 = role,
-- holding only the predicates of the filters given. Plain predicates rather
-- than a function call, which the planner could neither inline (it holds a
-- sub-select) nor match to an index; and no "$3 IS NULL OR EXISTS (...)", which
-- would keep the group test a per-row sub-plan instead of a semi-join that can
-- start from the group's memberships.
CREATE FUNCTION accounts.users_filter_sql(
    p_search boolean, p_status boolean, p_group boolean, p_role boolean
) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(string_agg(predicate, ' AND '), 'true')
    FROM (VALUES
        (p_search, '(u.username ILIKE $1 OR u.display_name ILIKE $1)'),
        (p_status, 'u.status = $2'),
        (p_group, 'EXISTS (SELECT 1 FROM accounts.user_group_memberships m'
                  ' WHERE m.group_id = $3 AND m.user_id = u.id)'),
        (p_role, '$4 = ANY(u.roles)')
    ) AS filters (given, predicate)
    WHERE given
$$;

-- A cursor's sort key must read as the order's type: a forged or stale cursor is
-- the caller's mistake (UA005 on the argument), not an internal error.
CREATE FUNCTION accounts.users_cursor_check(
    p_key text, p_id uuid, p_is_timestamp boolean, p_field text
) RETURNS void
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF p_id IS NULL THEN
        RETURN;
    END IF;
    IF p_key IS NULL THEN
        PERFORM accounts.raise_error('UA005', format('%s is not a valid cursor', p_field), p_field);
    END IF;
    IF p_is_timestamp THEN
        PERFORM p_key::timestamptz;
    END IF;
EXCEPTION WHEN data_exception THEN
    PERFORM accounts.raise_error('UA005', format('%s is not a valid cursor', p_field), p_field);
END $$;

-- A keyset page of users. Forward with p_first (after the p_after cursor), or
-- backward with p_last (before p_before); rows come back in the requested order
-- either way, each with has_more = whether a further row exists in the
-- direction of travel (one row more than the page is fetched to know it). The
-- sort key is lower(username) or created_at, then id, as in the indexes
-- users_username_order_idx and users_created_at_idx / users_status_idx.
--
-- The statement is built per order, direction and given filters, and run by
-- EXECUTE, whose one-shot plan sees the argument values: an absent cursor bound
-- folds away, leaving plain predicates the planner turns into an index range
-- scan that stops after the page (or, for a group, a walk of its memberships).
CREATE FUNCTION accounts.users_page(
    p_first integer, p_last integer,
    p_after_key text, p_after_id uuid, p_before_key text, p_before_id uuid,
    p_order text, p_search text, p_status text, p_group_id uuid, p_role text
) RETURNS TABLE (
    id uuid, username text, display_name text, profile jsonb, status text, roles text[],
    version integer, created_at timestamptz, updated_at timestamptz, has_more boolean
)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_backward boolean := p_last IS NOT NULL;
    v_limit    integer := coalesce(p_last, p_first, 20);
    v_key      text;
    v_cast     text;
    v_desc     boolean;
    v_scan     text;
    v_pattern  text    := accounts.like_pattern(p_search);
BEGIN
    CASE p_order
        WHEN 'username_asc'    THEN v_key := 'lower(u.username)'; v_cast := 'text';        v_desc := false;
        WHEN 'username_desc'   THEN v_key := 'lower(u.username)'; v_cast := 'text';        v_desc := true;
        WHEN 'created_at_asc'  THEN v_key := 'u.created_at';      v_cast := 'timestamptz'; v_desc := false;
        WHEN 'created_at_desc' THEN v_key := 'u.created_at';      v_cast := 'timestamptz'; v_desc := true;
        ELSE PERFORM accounts.raise_error('UA005', 'unknown order: ' || coalesce(p_order, 'null'), 'orderBy');
    END CASE;
    IF v_limit < 0 OR v_limit > 1000 THEN
        PERFORM accounts.raise_error('UA005', 'page size must be between 0 and 1000',
            CASE WHEN v_backward THEN 'last' ELSE 'first' END);
    END IF;
    PERFORM accounts.users_cursor_check(p_after_key, p_after_id, v_cast = 'timestamptz', 'after');
    PERFORM accounts.users_cursor_check(p_before_key, p_before_id, v_cast = 'timestamptz', 'before');
    -- Backward pages scan against the order, from the "before" end.
    v_scan := CASE WHEN v_desc <> v_backward THEN 'DESC' ELSE 'ASC' END;

    -- %1$s key, %2$s/%3$s the comparisons for "after"/"before" (which side of a
    -- cursor lies ahead depends on the order), %4$s scan direction, %5$s key
    -- type, %6$s the filter.
    RETURN QUERY EXECUTE format($q$
        SELECT p.id, p.username, p.display_name, p.profile, p.status, p.roles,
               p.version, p.created_at, p.updated_at, p.fetched > $9
        FROM (
            SELECT u.*,
                   row_number() OVER (ORDER BY %1$s %4$s, u.id %4$s) AS n,
                   count(*) OVER () AS fetched
            FROM (
                SELECT u.id, u.username, u.display_name, u.profile, u.status, u.roles,
                       u.version, u.created_at, u.updated_at
                FROM accounts.users u
                WHERE %6$s
                  AND ($5::uuid IS NULL OR (%1$s, u.id) %2$s ($6::%5$s, $5))
                  AND ($7::uuid IS NULL OR (%1$s, u.id) %3$s ($8::%5$s, $7))
                ORDER BY %1$s %4$s, u.id %4$s
                LIMIT $9 + 1
            ) u
        ) p
        WHERE p.n <= $9
        ORDER BY CASE WHEN $10 THEN -p.n ELSE p.n END
    $q$, v_key,
         CASE WHEN v_desc THEN '<' ELSE '>' END,
         CASE WHEN v_desc THEN '>' ELSE '<' END,
         v_scan, v_cast, accounts.users_filter_sql(v_pattern IS NOT NULL, p_status IS NOT NULL,
                                                  p_group_id IS NOT NULL, p_role IS NOT NULL))
    USING v_pattern, p_status, p_group_id, p_role,
          p_after_id, p_after_key, p_before_id, p_before_key, v_limit, v_backward;
END $$;

-- The size of the users connection under a filter (users_page's own filter).
-- plpgsql for the same reason as users_page: only the given filters are tested,
-- as plain predicates (a SQL function's generic plan would test every one of
-- them on every row).
CREATE FUNCTION accounts.users_count(
    p_search text, p_status text, p_group_id uuid, p_role text
) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_pattern text := accounts.like_pattern(p_search);
    v_count   bigint;
BEGIN
    EXECUTE 'SELECT count(*) FROM accounts.users u WHERE '
        || accounts.users_filter_sql(v_pattern IS NOT NULL, p_status IS NOT NULL,
                                     p_group_id IS NOT NULL, p_role IS NOT NULL)
    INTO v_count
    USING v_pattern, p_status, p_group_id, p_role;
    RETURN v_count;
END $$;

-- Writes ---------------------------------------------------------------------

-- Checks user fields given to a write; NULL means "not given".
CREATE FUNCTION accounts.user_check_fields(
    p_username text, p_display_name text, p_profile jsonb, p_roles text[]
) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF p_username IS NOT NULL AND p_username !~ '^[A-Za-z0-9._-]{3,32}$' THEN
        PERFORM accounts.raise_error('UA005',
            'username must be 3 to 32 letters, digits, ".", "_" or "-"', 'username');
    END IF;
    IF p_display_name IS NOT NULL AND char_length(p_display_name) > 100 THEN
        PERFORM accounts.raise_error('UA005', 'displayName must be at most 100 characters', 'displayName');
    END IF;
    IF p_profile IS NOT NULL AND jsonb_typeof(p_profile) <> 'object' THEN
        PERFORM accounts.raise_error('UA005', 'profile must be a JSON object', 'profile');
    END IF;
    IF p_profile IS NOT NULL AND octet_length(p_profile::text) > 16384 THEN
        PERFORM accounts.raise_error('UA005', 'profile must be at most 16 KiB', 'profile',
            jsonb_build_object('limit', 16384));
    END IF;
    IF p_roles IS NOT NULL AND NOT p_roles <@ ARRAY['admin']::text[] THEN
        PERFORM accounts.raise_error('UA005', 'unknown role; known roles: admin', 'roles');
    END IF;
END $$;

-- Roles are a set: kept sorted and without repeats, so that equal sets compare
-- equal (an update giving the same roles in another order changes nothing).
CREATE FUNCTION accounts.user_roles(p_roles text[]) RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN p_roles IS NOT NULL
                THEN ARRAY(SELECT DISTINCT r FROM unnest(p_roles) AS r ORDER BY r) END
$$;

-- The users table's CHECK constraints back user_check_fields up; should one
-- fire all the same (a rule changed in one place only), the caller still gets
-- a validation error on the input field, never a constraint name. Returns for
-- a constraint that no input field guards, so that the caller re-raises it.
CREATE FUNCTION accounts.user_check_violation(p_constraint text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_field text := CASE p_constraint
        WHEN 'users_username_format'     THEN 'username'
        WHEN 'users_display_name_length' THEN 'displayName'
        WHEN 'users_profile_object'      THEN 'profile'
        WHEN 'users_profile_size'        THEN 'profile'
        WHEN 'users_roles_valid'         THEN 'roles'
    END;
BEGIN
    IF v_field IS NOT NULL THEN
        PERFORM accounts.raise_error('UA005', format('%s is not valid', v_field), v_field);
    END IF;
END $$;

-- Locks and returns a user for a write, checking the expected version.
CREATE FUNCTION accounts.user_for_update(p_id uuid, p_expected_version integer)
RETURNS accounts.users
LANGUAGE plpgsql AS $$
DECLARE
    v_user accounts.users;
BEGIN
    SELECT * INTO v_user FROM accounts.users WHERE id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM accounts.raise_error('UA001', 'no such user', 'id');
    END IF;
    IF p_expected_version IS NOT NULL AND p_expected_version <> v_user.version THEN
        PERFORM accounts.raise_error('UA004',
            format('the user is at version %s, not %s', v_user.version, p_expected_version),
            'expectedVersion', jsonb_build_object('current_version', v_user.version));
    END IF;
    RETURN v_user;
END $$;

-- The fields of two states that differ, as {"before": {...}, "after": {...}}.
CREATE FUNCTION accounts.state_changes(p_before jsonb, p_after jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object(
        'before', coalesce(jsonb_object_agg(b.key, b.value), '{}'::jsonb),
        'after', coalesce(jsonb_object_agg(b.key, p_after -> b.key), '{}'::jsonb))
    FROM jsonb_each(p_before) b
    WHERE b.key NOT IN ('version', 'updated_at') AND b.value IS DISTINCT FROM p_after -> b.key
$$;

CREATE FUNCTION accounts.create_user(
    p_username text, p_display_name text, p_profile jsonb, p_roles text[], p_actor_id uuid
) RETURNS accounts.users
LANGUAGE plpgsql AS $$
DECLARE
    v_user       accounts.users;
    v_constraint text;
BEGIN
    IF p_username IS NULL THEN
        PERFORM accounts.raise_error('UA005', 'username is required', 'username');
    END IF;
    PERFORM accounts.user_check_fields(p_username, p_display_name, p_profile, p_roles);
    BEGIN
        INSERT INTO accounts.users (username, display_name, profile, roles)
        VALUES (p_username, coalesce(p_display_name, ''), coalesce(p_profile, '{}'),
                coalesce(accounts.user_roles(p_roles), '{}'))
        RETURNING * INTO v_user;
    EXCEPTION
        WHEN unique_violation THEN
            -- Also reached when a concurrent transaction took the name first.
            PERFORM accounts.raise_error('UA002', format('username %s is taken', p_username), 'username');
        WHEN check_violation THEN
            GET STACKED DIAGNOSTICS v_constraint = CONSTRAINT_NAME;
            PERFORM accounts.user_check_violation(v_constraint);
            RAISE;
    END;
    PERFORM accounts.emit_event('user.created', 'user', v_user.id,
        jsonb_build_object('user', accounts.user_state(v_user)), p_actor_id);
    RETURN v_user;
END $$;

-- Changes the given fields (NULL keeps). A call that changes nothing returns the
-- row as it is, without a new version or an event: nothing happened.
CREATE FUNCTION accounts.update_user(
    p_id uuid, p_username text, p_display_name text, p_roles text[],
    p_expected_version integer, p_actor_id uuid
) RETURNS accounts.users
LANGUAGE plpgsql AS $$
DECLARE
    v_before     accounts.users;
    v_after      accounts.users;
    v_constraint text;
BEGIN
    PERFORM accounts.user_check_fields(p_username, p_display_name, NULL, p_roles);
    p_roles := accounts.user_roles(p_roles);
    v_before := accounts.user_for_update(p_id, p_expected_version);
    IF (p_username IS NULL OR p_username = v_before.username)
       AND (p_display_name IS NULL OR p_display_name = v_before.display_name)
       AND (p_roles IS NULL OR p_roles = v_before.roles) THEN
        RETURN v_before;
    END IF;
    BEGIN
        UPDATE accounts.users
        SET username = coalesce(p_username, username),
            display_name = coalesce(p_display_name, display_name),
            roles = coalesce(p_roles, roles),
            version = version + 1,
            updated_at = now()
        WHERE id = p_id
        RETURNING * INTO v_after;
    EXCEPTION
        WHEN unique_violation THEN
            PERFORM accounts.raise_error('UA002', format('username %s is taken', p_username), 'username');
        WHEN check_violation THEN
            GET STACKED DIAGNOSTICS v_constraint = CONSTRAINT_NAME;
            PERFORM accounts.user_check_violation(v_constraint);
            RAISE;
    END;
    PERFORM accounts.emit_event('user.updated', 'user', p_id,
        jsonb_build_object('user', accounts.user_state(v_after))
            || accounts.state_changes(accounts.user_state(v_before), accounts.user_state(v_after)),
        p_actor_id);
    RETURN v_after;
END $$;

CREATE FUNCTION accounts.update_user_profile(
    p_id uuid, p_patch jsonb, p_expected_version integer, p_actor_id uuid
) RETURNS accounts.users
LANGUAGE plpgsql AS $$
DECLARE
    v_before     accounts.users;
    v_after      accounts.users;
    v_profile    jsonb;
    v_constraint text;
BEGIN
    IF p_patch IS NULL OR jsonb_typeof(p_patch) <> 'object' THEN
        PERFORM accounts.raise_error('UA005', 'the patch must be a JSON object', 'patch');
    END IF;
    v_before := accounts.user_for_update(p_id, p_expected_version);
    v_profile := accounts.jsonb_merge_patch(v_before.profile, p_patch);
    PERFORM accounts.user_check_fields(NULL, NULL, v_profile, NULL);
    IF v_profile = v_before.profile THEN
        RETURN v_before;
    END IF;
    BEGIN
        UPDATE accounts.users
        SET profile = v_profile, version = version + 1, updated_at = now()
        WHERE id = p_id
        RETURNING * INTO v_after;
    EXCEPTION WHEN check_violation THEN
        GET STACKED DIAGNOSTICS v_constraint = CONSTRAINT_NAME;
        PERFORM accounts.user_check_violation(v_constraint);
        RAISE;
    END;
    PERFORM accounts.emit_event('user.profile_updated', 'user', p_id,
        jsonb_build_object('user', accounts.user_state(v_after), 'patch', p_patch,
                           'before', jsonb_build_object('profile', v_before.profile),
                           'after', jsonb_build_object('profile', v_after.profile)),
        p_actor_id);
    RETURN v_after;
END $$;

CREATE FUNCTION accounts.set_user_status(
    p_id uuid, p_status text, p_event_type text, p_actor_id uuid, p_expected_version integer
) RETURNS accounts.users
LANGUAGE plpgsql AS $$
DECLARE
    v_before accounts.users;
    v_after  accounts.users;
BEGIN
    v_before := accounts.user_for_update(p_id, p_expected_version);
    IF v_before.status = p_status THEN
        PERFORM accounts.raise_error('UA010', format('the user is already %s', p_status), 'id');
    END IF;
    UPDATE accounts.users
    SET status = p_status, version = version + 1, updated_at = now()
    WHERE id = p_id
    RETURNING * INTO v_after;
    PERFORM accounts.emit_event(p_event_type, 'user', p_id,
        jsonb_build_object('user', accounts.user_state(v_after))
            || accounts.state_changes(accounts.user_state(v_before), accounts.user_state(v_after)),
        p_actor_id);
    RETURN v_after;
END $$;

CREATE FUNCTION accounts.deactivate_user(
    p_id uuid, p_actor_id uuid, p_expected_version integer DEFAULT NULL
) RETURNS accounts.users
LANGUAGE sql AS $$
    SELECT * FROM accounts.set_user_status(
        p_id, 'deactivated', 'user.deactivated', p_actor_id, p_expected_version)
$$;

CREATE FUNCTION accounts.reactivate_user(
    p_id uuid, p_actor_id uuid, p_expected_version integer DEFAULT NULL
) RETURNS accounts.users
LANGUAGE sql AS $$
    SELECT * FROM accounts.set_user_status(
        p_id, 'active', 'user.reactivated', p_actor_id, p_expected_version)
$$;

-- Erasure: the user and everything of theirs (contacts, memberships, credentials,
-- tokens) go by cascade; the event names only the id. The outbox keeps
-- published rows for a while (audit, re-delivery), and those of this user hold
-- their name, profile and contact values: their payloads are redacted so that
-- erased personal data does not linger there. Rows not yet published keep
-- theirs, so that consumers still see every change, in order, before the
-- user.deleted that tells them to erase it too.
CREATE FUNCTION accounts.delete_user(p_id uuid, p_expected_version integer, p_actor_id uuid)
RETURNS uuid
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM accounts.user_for_update(p_id, p_expected_version);
    DELETE FROM accounts.users WHERE id = p_id;
    UPDATE accounts.outbox SET payload = '{"redacted": true}'
    WHERE aggregate_type = 'user' AND aggregate_id = p_id AND published_at IS NOT NULL;
    PERFORM accounts.emit_event('user.deleted', 'user', p_id,
        jsonb_build_object('user', jsonb_build_object('id', p_id)), p_actor_id);
    RETURN p_id;
END $$;
