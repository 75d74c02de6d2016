-- Contact types and user contacts: reads and writes.

-- Reads ----------------------------------------------------------------------

CREATE FUNCTION accounts.contact_types_list(p_include_inactive boolean DEFAULT false)
RETURNS SETOF accounts.contact_types
LANGUAGE sql STABLE AS $$
    SELECT * FROM accounts.contact_types
    WHERE p_include_inactive OR is_active
    ORDER BY code
$$;

CREATE FUNCTION accounts.contact_types_by_ids(p_ids uuid[])
RETURNS SETOF accounts.contact_types
LANGUAGE sql STABLE AS $$
    SELECT * FROM accounts.contact_types WHERE id = ANY(p_ids)
$$;

-- States (the `data` of events) ----------------------------------------------

CREATE FUNCTION accounts.contact_type_state(t accounts.contact_types)
RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', t.id,
        'code', t.code,
        'name', t.name,
        'validation_pattern', t.validation_pattern,
        'is_unique', t.is_unique,
        'is_active', t.is_active,
        'version', t.version,
        'created_at', t.created_at,
        'updated_at', t.updated_at)
$$;

CREATE FUNCTION accounts.contact_state(c accounts.user_contacts)
RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', c.id,
        'user_id', c.user_id,
        'contact_type_id', c.contact_type_id,
        'type', (SELECT t.code FROM accounts.contact_types AS t WHERE t.id = c.contact_type_id),
        'value', c.value,
        'is_primary', c.is_primary,
        'is_verified', c.is_verified,
        'is_active', c.is_active,
        'created_at', c.created_at,
        'updated_at', c.updated_at,
        'deactivated_at', c.deactivated_at)
$$;

-- {"before": {...}, "after": {...}} holding only the fields that changed;
-- bookkeeping fields (updated_at, version) change on every write and are left out.
CREATE FUNCTION accounts.contact_state_changes(p_before jsonb, p_after jsonb)
RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object(
        'before', coalesce(jsonb_object_agg(a.key, p_before -> a.key), '{}'::jsonb),
        'after', coalesce(jsonb_object_agg(a.key, a.value), '{}'::jsonb))
    FROM jsonb_each(p_after) AS a (key, value)
    WHERE a.key NOT IN ('updated_at', 'version')
      AND (p_before -> a.key) IS DISTINCT FROM a.value
$$;

-- Values ---------------------------------------------------------------------

-- The stored form of a value: email trimmed and lower-cased, phone in E.164
-- (separators dropped, a leading 00 read as +), anything else trimmed. A phone
-- that is not + and digits afterwards cannot be made E.164 and is refused here,
-- whatever the type's pattern says.
CREATE FUNCTION accounts.normalize_contact_value(p_code text, p_value text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT AS $$
DECLARE
    v_value text := regexp_replace(p_value, '^[[:space:]]+|[[:space:]]+$', '', 'g');
BEGIN
    IF p_code = 'email' THEN
        RETURN lower(v_value);
    ELSIF p_code = 'phone' THEN
        v_value := regexp_replace(v_value, '[[:space:]().-]', '', 'g');
        IF v_value LIKE '00%' THEN
            v_value := '+' || substr(v_value, 3);
        END IF;
        IF v_value <> '' AND v_value !~ '^\+[0-9]+$' THEN
            PERFORM accounts.raise_error('UA005',
                'a phone number must be international: + (or 00) and digits', 'value');
        END IF;
    END IF;
    RETURN v_value;
END $$;

-- The normalised value, or UA005 on `value` when it is empty, too long or does
-- not match the type's pattern.
CREATE FUNCTION accounts.contact_checked_value(p_type accounts.contact_types, p_value text)
RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_value text := accounts.normalize_contact_value(p_type.code, p_value);
BEGIN
    IF v_value IS NULL OR v_value = '' THEN
        PERFORM accounts.raise_error('UA005', 'value must not be empty', 'value');
    ELSIF char_length(v_value) > 320 THEN
        PERFORM accounts.raise_error('UA005', 'value must be at most 320 characters', 'value');
    ELSIF p_type.validation_pattern IS NOT NULL AND v_value !~ p_type.validation_pattern THEN
        PERFORM accounts.raise_error('UA005',
            format('value is not a valid %s', lower(p_type.name)), 'value');
    END IF;
    RETURN v_value;
END $$;

-- Contact reads ----------------------------------------------------------------

CREATE FUNCTION accounts.contacts_by_user_ids(p_user_ids uuid[], p_include_inactive boolean DEFAULT false)
RETURNS TABLE (
    id uuid, user_id uuid, contact_type_id uuid, type_code text, value text,
    is_primary boolean, is_verified boolean, is_active boolean,
    created_at timestamptz, updated_at timestamptz, deactivated_at timestamptz
)
LANGUAGE sql STABLE AS $$
    SELECT c.id, c.user_id, c.contact_type_id, t.code, c.value,
           c.is_primary, c.is_verified, c.is_active,
           c.created_at, c.updated_at, c.deactivated_at
    FROM accounts.user_contacts AS c
    JOIN accounts.contact_types AS t ON t.id = c.contact_type_id
    WHERE c.user_id = ANY(p_user_ids) AND (p_include_inactive OR c.is_active)
    ORDER BY c.user_id, c.created_at, c.id
$$;

CREATE FUNCTION accounts.contacts_by_ids(p_ids uuid[])
RETURNS TABLE (
    id uuid, user_id uuid, contact_type_id uuid, type_code text, value text,
    is_primary boolean, is_verified boolean, is_active boolean,
    created_at timestamptz, updated_at timestamptz, deactivated_at timestamptz
)
LANGUAGE sql STABLE AS $$
    SELECT c.id, c.user_id, c.contact_type_id, t.code, c.value,
           c.is_primary, c.is_verified, c.is_active,
           c.created_at, c.updated_at, c.deactivated_at
    FROM accounts.user_contacts AS c
    JOIN accounts.contact_types AS t ON t.id = c.contact_type_id
    WHERE c.id = ANY(p_ids)
$$;

-- One written row in the shape of the reads above (writes return the table's
-- row; the repository passes it through this to add the type code).
CREATE FUNCTION accounts.contact_with_type(c accounts.user_contacts)
RETURNS TABLE (
    id uuid, user_id uuid, contact_type_id uuid, type_code text, value text,
    is_primary boolean, is_verified boolean, is_active boolean,
    created_at timestamptz, updated_at timestamptz, deactivated_at timestamptz
)
LANGUAGE sql STABLE AS $$
    SELECT c.id, c.user_id, c.contact_type_id, t.code, c.value,
           c.is_primary, c.is_verified, c.is_active,
           c.created_at, c.updated_at, c.deactivated_at
    FROM accounts.contact_types AS t
    WHERE t.id = c.contact_type_id
$$;

-- Contact write helpers ------------------------------------------------------

-- Every contact write locks the owning user's row first, then the contact rows:
-- one order for all of them, so concurrent writes to one user's contacts queue
-- up instead of deadlocking, and flag flips (primary) never interleave.
CREATE FUNCTION accounts.contact_lock_owner(p_user_id uuid, p_require_active boolean)
RETURNS accounts.users
LANGUAGE plpgsql AS $$
DECLARE
    v_user accounts.users;
BEGIN
    SELECT * INTO v_user FROM accounts.users WHERE id = p_user_id FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        PERFORM accounts.raise_error('UA001', 'user not found', 'userId');
    END IF;
    IF p_require_active AND v_user.status <> 'active' THEN
        PERFORM accounts.raise_error('UA010', 'the user is deactivated', 'userId');
    END IF;
    RETURN v_user;
END $$;

-- The contact p_id, locked after its owner (see above); UA001 on `id` if missing.
CREATE FUNCTION accounts.contact_lock(p_id uuid, p_require_active_user boolean)
RETURNS accounts.user_contacts
LANGUAGE plpgsql AS $$
DECLARE
    v_user_id uuid;
    v_row     accounts.user_contacts;
BEGIN
    SELECT user_id INTO v_user_id FROM accounts.user_contacts WHERE id = p_id;
    IF FOUND THEN
        PERFORM accounts.contact_lock_owner(v_user_id, p_require_active_user);
        SELECT * INTO v_row FROM accounts.user_contacts WHERE id = p_id FOR UPDATE;
    END IF;
    IF v_row.id IS NULL THEN
        PERFORM accounts.raise_error('UA001', 'contact not found', 'id');
    END IF;
    RETURN v_row;
END $$;

-- Raises the typed error for a constraint of user_contacts/users that fired
-- (usually under a race the checks before it could not see); returns for any
-- other constraint, so that the caller re-raises the original error.
CREATE FUNCTION accounts.contact_raise_constraint(p_constraint text)
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    CASE p_constraint
    WHEN 'user_contacts_user_value_key' THEN
        PERFORM accounts.raise_error('UA003', 'the user already has this contact', 'value');
    WHEN 'user_contacts_unique_value_key' THEN
        PERFORM accounts.raise_error('UA003', 'this value is already in use by another user', 'value');
    WHEN 'users_contacts_limit' THEN
        PERFORM accounts.raise_error('UA006', 'a user can have at most 50 active contacts', NULL,
            '{"limit": 50}'::jsonb);
    WHEN 'user_contacts_one_primary_key' THEN
        PERFORM accounts.raise_error('UA010',
            'another contact of this type became primary at the same time; retry', 'id');
    ELSE
        RETURN;
    END CASE;
END $$;

-- UA003 when the value is already active: for this user, or (is_unique types)
-- for anyone. Gives the clear message up front; the indexes stay the guarantee.
CREATE FUNCTION accounts.contact_check_value_free(
    p_user_id uuid, p_type accounts.contact_types, p_value text, p_except_id uuid
) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_owner uuid;
BEGIN
    SELECT c.user_id INTO v_owner
    FROM accounts.user_contacts AS c
    WHERE c.contact_type_id = p_type.id AND c.value = p_value AND c.is_active
      AND c.id IS DISTINCT FROM p_except_id
      AND (c.user_id = p_user_id OR p_type.is_unique)
    ORDER BY c.user_id = p_user_id DESC
    LIMIT 1;
    IF v_owner = p_user_id THEN
        PERFORM accounts.contact_raise_constraint('user_contacts_user_value_key');
    ELSIF v_owner IS NOT NULL THEN
        PERFORM accounts.contact_raise_constraint('user_contacts_unique_value_key');
    END IF;
END $$;

-- Contact writes ---------------------------------------------------------------

-- Adds a contact. p_is_primary takes the primary flag from the user's current
-- primary of the type (named in the event as previous_primary_id). Without it,
-- the new contact becomes primary when the user has no primary of the type, so
-- the first active contact of a type is always primary: a user with contacts of
-- a type has a primary one unless they deactivated it.
CREATE FUNCTION accounts.add_contact(
    p_user_id     uuid,
    p_type_code   text,
    p_value       text,
    p_is_primary  boolean,
    p_is_verified boolean,
    p_actor_id    uuid
) RETURNS accounts.user_contacts
LANGUAGE plpgsql AS $$
DECLARE
    v_type       accounts.contact_types;
    v_value      text;
    v_primary    boolean := coalesce(p_is_primary, false);
    v_previous   uuid;
    v_row        accounts.user_contacts;
    v_constraint text;
BEGIN
    PERFORM accounts.contact_lock_owner(p_user_id, true);
    -- KEY SHARE keeps is_unique as read until commit (flipping it waits for us).
    SELECT * INTO v_type FROM accounts.contact_types WHERE code = p_type_code FOR KEY SHARE;
    IF NOT FOUND THEN
        PERFORM accounts.raise_error('UA001', format('unknown contact type %L', p_type_code), 'type');
    ELSIF NOT v_type.is_active THEN
        PERFORM accounts.raise_error('UA010', format('contact type %L is not active', p_type_code), 'type');
    END IF;
    v_value := accounts.contact_checked_value(v_type, p_value);
    PERFORM accounts.contact_check_value_free(p_user_id, v_type, v_value, NULL);

    IF v_primary THEN
        UPDATE accounts.user_contacts SET is_primary = false, updated_at = now()
        WHERE user_id = p_user_id AND contact_type_id = v_type.id AND is_primary
        RETURNING id INTO v_previous;
    ELSE
        v_primary := NOT EXISTS (
            SELECT 1 FROM accounts.user_contacts
            WHERE user_id = p_user_id AND contact_type_id = v_type.id AND is_primary);
    END IF;

    BEGIN
        INSERT INTO accounts.user_contacts
            (user_id, contact_type_id, type_is_unique, value, is_primary, is_verified)
        VALUES (p_user_id, v_type.id, v_type.is_unique, v_value, v_primary, coalesce(p_is_verified, false))
        RETURNING * INTO v_row;
    EXCEPTION WHEN unique_violation OR check_violation THEN
        GET STACKED DIAGNOSTICS v_constraint = CONSTRAINT_NAME;
        PERFORM accounts.contact_raise_constraint(v_constraint);
        RAISE;
    END;

    PERFORM accounts.emit_event('contact.added', 'user', p_user_id,
        jsonb_build_object('contact', accounts.contact_state(v_row), 'previous_primary_id', v_previous),
        p_actor_id);
    RETURN v_row;
END $$;

-- Changes a contact's value and/or verification; NULL keeps. A new value is
-- unverified unless p_is_verified says otherwise. No change, no event.
CREATE FUNCTION accounts.update_contact(
    p_id          uuid,
    p_value       text,
    p_is_verified boolean,
    p_actor_id    uuid
) RETURNS accounts.user_contacts
LANGUAGE plpgsql AS $$
DECLARE
    v_old        accounts.user_contacts := accounts.contact_lock(p_id, true);
    v_type       accounts.contact_types;
    v_value      text := v_old.value;
    v_verified   boolean;
    v_row        accounts.user_contacts;
    v_constraint text;
BEGIN
    IF NOT v_old.is_active THEN
        PERFORM accounts.raise_error('UA010', 'the contact is deactivated', 'id');
    END IF;
    IF p_value IS NOT NULL THEN
        SELECT * INTO v_type FROM accounts.contact_types WHERE id = v_old.contact_type_id;
        v_value := accounts.contact_checked_value(v_type, p_value);
    END IF;
    v_verified := CASE
        WHEN p_is_verified IS NOT NULL THEN p_is_verified
        WHEN v_value <> v_old.value THEN false
        ELSE v_old.is_verified
    END;
    IF v_value = v_old.value AND v_verified = v_old.is_verified THEN
        RETURN v_old;
    END IF;
    IF v_value <> v_old.value THEN
        PERFORM accounts.contact_check_value_free(v_old.user_id, v_type, v_value, v_old.id);
    END IF;

    BEGIN
        UPDATE accounts.user_contacts
        SET value = v_value, is_verified = v_verified, updated_at = now()
        WHERE id = p_id
        RETURNING * INTO v_row;
    EXCEPTION WHEN unique_violation THEN
        GET STACKED DIAGNOSTICS v_constraint = CONSTRAINT_NAME;
        PERFORM accounts.contact_raise_constraint(v_constraint);
        RAISE;
    END;

    PERFORM accounts.emit_event('contact.updated', 'user', v_row.user_id,
        jsonb_build_object('contact', accounts.contact_state(v_row))
            || accounts.contact_state_changes(accounts.contact_state(v_old), accounts.contact_state(v_row)),
        p_actor_id);
    RETURN v_row;
END $$;

-- Makes an active contact the primary of its type, taking the flag from the
-- previous primary (named in the event). Already primary: no change, no event.
CREATE FUNCTION accounts.set_primary_contact(p_id uuid, p_actor_id uuid)
RETURNS accounts.user_contacts
LANGUAGE plpgsql AS $$
DECLARE
    v_row        accounts.user_contacts := accounts.contact_lock(p_id, true);
    v_previous   uuid;
    v_constraint text;
BEGIN
    IF NOT v_row.is_active THEN
        PERFORM accounts.raise_error('UA010', 'only an active contact can be primary', 'id');
    END IF;
    IF v_row.is_primary THEN
        RETURN v_row;
    END IF;

    BEGIN
        UPDATE accounts.user_contacts SET is_primary = false, updated_at = now()
        WHERE user_id = v_row.user_id AND contact_type_id = v_row.contact_type_id AND is_primary
        RETURNING id INTO v_previous;
        UPDATE accounts.user_contacts SET is_primary = true, updated_at = now()
        WHERE id = p_id
        RETURNING * INTO v_row;
    EXCEPTION WHEN unique_violation THEN
        GET STACKED DIAGNOSTICS v_constraint = CONSTRAINT_NAME;
        PERFORM accounts.contact_raise_constraint(v_constraint);
        RAISE;
    END;

    PERFORM accounts.emit_event('contact.primary_changed', 'user', v_row.user_id,
        jsonb_build_object('contact', accounts.contact_state(v_row), 'previous_primary_id', v_previous),
        p_actor_id);
    RETURN v_row;
END $$;

-- Deactivates a contact (allowed for a deactivated user too, so that contact
-- data can be retired). A primary loses its flag and no other contact is
-- promoted: which one becomes primary is the user's choice, and the next
-- contact they add of that type becomes primary (see add_contact).
CREATE FUNCTION accounts.deactivate_contact(p_id uuid, p_actor_id uuid)
RETURNS accounts.user_contacts
LANGUAGE plpgsql AS $$
DECLARE
    v_row accounts.user_contacts := accounts.contact_lock(p_id, false);
BEGIN
    IF NOT v_row.is_active THEN
        PERFORM accounts.raise_error('UA010', 'the contact is already deactivated', 'id');
    END IF;
    UPDATE accounts.user_contacts
    SET is_active = false, is_primary = false, deactivated_at = now(), updated_at = now()
    WHERE id = p_id
    RETURNING * INTO v_row;

    PERFORM accounts.emit_event('contact.deactivated', 'user', v_row.user_id,
        jsonb_build_object('contact', accounts.contact_state(v_row)), p_actor_id);
    RETURN v_row;
END $$;

-- Contact type writes ----------------------------------------------------------

-- UA005 unless p_name is 1..100 characters (after trimming); returns it trimmed.
CREATE FUNCTION accounts.contact_type_checked_name(p_name text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    v_name text := btrim(p_name);
BEGIN
    IF v_name IS NULL OR char_length(v_name) NOT BETWEEN 1 AND 100 THEN
        PERFORM accounts.raise_error('UA005', 'name must be 1 to 100 characters', 'name');
    END IF;
    RETURN v_name;
END $$;

-- UA005 on validationPattern unless p_pattern is a valid regular expression of
-- at most 500 characters; NULL (no pattern) passes.
CREATE FUNCTION accounts.contact_type_check_pattern(p_pattern text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF char_length(p_pattern) > 500 THEN
        PERFORM accounts.raise_error('UA005',
            'validationPattern must be at most 500 characters', 'validationPattern');
    END IF;
    PERFORM '' ~ p_pattern;
EXCEPTION WHEN invalid_regular_expression THEN
    PERFORM accounts.raise_error('UA005',
        format('validationPattern is not a valid regular expression: %s', SQLERRM),
        'validationPattern');
END $$;

CREATE FUNCTION accounts.create_contact_type(
    p_code               text,
    p_name               text,
    p_validation_pattern text,
    p_is_unique          boolean,
    p_actor_id           uuid
) RETURNS accounts.contact_types
LANGUAGE plpgsql AS $$
DECLARE
    v_name       text := accounts.contact_type_checked_name(p_name);
    v_pattern    text := nullif(p_validation_pattern, '');
    v_row        accounts.contact_types;
    v_constraint text;
BEGIN
    IF p_code IS NULL OR p_code !~ '^[a-z][a-z0-9_]{1,31}$' THEN
        PERFORM accounts.raise_error('UA005',
            'code must be 2 to 32 characters of a-z, 0-9 and _, starting with a letter', 'code');
    END IF;
    PERFORM accounts.contact_type_check_pattern(v_pattern);
    IF EXISTS (SELECT 1 FROM accounts.contact_types WHERE code = p_code) THEN
        PERFORM accounts.raise_error('UA008', format('contact type %L already exists', p_code), 'code');
    END IF;

    BEGIN
        INSERT INTO accounts.contact_types (code, name, validation_pattern, is_unique)
        VALUES (p_code, v_name, v_pattern, coalesce(p_is_unique, false))
        RETURNING * INTO v_row;
    EXCEPTION WHEN unique_violation THEN
        GET STACKED DIAGNOSTICS v_constraint = CONSTRAINT_NAME;
        IF v_constraint = 'contact_types_code_key' THEN
            PERFORM accounts.raise_error('UA008', format('contact type %L already exists', p_code), 'code');
        END IF;
        RAISE;
    END;

    PERFORM accounts.emit_event('contact_type.created', 'contact_type', v_row.id,
        jsonb_build_object('contact_type', accounts.contact_type_state(v_row)), p_actor_id);
    RETURN v_row;
END $$;

-- Changes a contact type; NULL keeps, and an empty p_validation_pattern removes
-- the pattern. A new pattern applies to values written from now on; stored
-- values are not re-checked. Turning is_unique on cascades into user_contacts,
-- where the unique index refuses values held by two users (UA003). No change,
-- no event and no new version.
CREATE FUNCTION accounts.update_contact_type(
    p_id                 uuid,
    p_name               text,
    p_validation_pattern text,
    p_is_unique          boolean,
    p_is_active          boolean,
    p_expected_version   integer,
    p_actor_id           uuid
) RETURNS accounts.contact_types
LANGUAGE plpgsql AS $$
DECLARE
    v_old        accounts.contact_types;
    v_row        accounts.contact_types;
    v_name       text;
    v_pattern    text;
    v_constraint text;
BEGIN
    -- FOR UPDATE, not NO KEY UPDATE: is_unique is part of a key that
    -- user_contacts references, and in-flight add_contact calls must finish first.
    SELECT * INTO v_old FROM accounts.contact_types WHERE id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM accounts.raise_error('UA001', 'contact type not found', 'id');
    END IF;
    IF p_expected_version IS NOT NULL AND p_expected_version <> v_old.version THEN
        PERFORM accounts.raise_error('UA004', 'the contact type was changed by someone else',
            'expectedVersion', jsonb_build_object('current_version', v_old.version));
    END IF;
    v_name := CASE WHEN p_name IS NULL THEN v_old.name ELSE accounts.contact_type_checked_name(p_name) END;
    v_pattern := CASE WHEN p_validation_pattern IS NULL THEN v_old.validation_pattern
                      ELSE nullif(p_validation_pattern, '') END;
    PERFORM accounts.contact_type_check_pattern(v_pattern);

    IF v_name = v_old.name
       AND v_pattern IS NOT DISTINCT FROM v_old.validation_pattern
       AND coalesce(p_is_unique, v_old.is_unique) = v_old.is_unique
       AND coalesce(p_is_active, v_old.is_active) = v_old.is_active THEN
        RETURN v_old;
    END IF;

    BEGIN
        UPDATE accounts.contact_types
        SET name = v_name,
            validation_pattern = v_pattern,
            is_unique = coalesce(p_is_unique, is_unique),
            is_active = coalesce(p_is_active, is_active),
            version = version + 1,
            updated_at = now()
        WHERE id = p_id
        RETURNING * INTO v_row;
    EXCEPTION WHEN unique_violation THEN
        GET STACKED DIAGNOSTICS v_constraint = CONSTRAINT_NAME;
        IF v_constraint = 'user_contacts_unique_value_key' THEN
            PERFORM accounts.raise_error('UA003',
                'cannot make the type unique: some active values belong to more than one user',
                'isUnique');
        END IF;
        RAISE;
    END;

    PERFORM accounts.emit_event('contact_type.updated', 'contact_type', v_row.id,
        jsonb_build_object('contact_type', accounts.contact_type_state(v_row))
            || accounts.contact_state_changes(accounts.contact_type_state(v_old),
                                              accounts.contact_type_state(v_row)),
        p_actor_id);
    RETURN v_row;
END $$;
