-- Password accounts and sessions (PRODUCT §6): password hashes, login throttling,
-- refresh tokens with rotation and reuse detection.
--
-- The service hashes passwords (argon2id) and refresh tokens (SHA-256) itself;
-- these functions only ever see the hashes. Credentials and sessions are not part
-- of a user's state, so they record no events; sign-up records `user.created`
-- through accounts.create_user like any other new user.

-- Login attempts --------------------------------------------------------------

-- One row per login attempt that has not (yet) succeeded. A row is written before
-- the password is checked and deleted when the login succeeds, so parallel
-- guesses cannot outrun the count. `username` is lower-cased as given: unknown
-- usernames are counted like known ones, which keeps throttling from revealing
-- whether a username exists.
CREATE TABLE accounts.login_attempts (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username     text        NOT NULL
        CONSTRAINT login_attempts_username_length CHECK (char_length(username) <= 64),
    client_ip    text
        CONSTRAINT login_attempts_client_ip_length CHECK (char_length(client_ip) <= 64),
    attempted_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_attempts_username_idx ON accounts.login_attempts (username, attempted_at);
CREATE INDEX login_attempts_client_idx
    ON accounts.login_attempts (client_ip, attempted_at) WHERE client_ip IS NOT NULL;
CREATE INDEX login_attempts_attempted_at_idx ON accounts.login_attempts (attempted_at);

-- The form a username takes in login_attempts.
CREATE FUNCTION accounts.login_key(p_username text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT left(lower(btrim(coalesce(p_username, ''))), 64)
$$;

-- Records a login attempt, unless the username or the client address already
-- has as many recent failures as allowed: then raises UA006 (LIMIT_REACHED) with
-- detail {"retry_after": seconds} and records nothing, so a throttled caller does
-- not extend its own lock. Prunes rows older than both windows. Returns the
-- failures counted, this attempt included.
CREATE FUNCTION accounts.record_login_attempt(
    p_username text,
    p_client_ip text,
    p_max_per_username integer,
    p_username_window_seconds integer,
    p_max_per_client integer,
    p_client_window_seconds integer
) RETURNS TABLE (username_failures integer, client_failures integer)
LANGUAGE plpgsql AS $$
DECLARE
    v_username     text := accounts.login_key(p_username);
    v_client       text := left(nullif(btrim(p_client_ip), ''), 64);
    v_user_since   timestamptz := now() - make_interval(secs => p_username_window_seconds);
    v_client_since timestamptz := now() - make_interval(secs => p_client_window_seconds);
    v_user_count   integer;
    v_client_count integer := 0;
    v_oldest       timestamptz;
    v_retry        numeric := 0;
BEGIN
    IF p_max_per_username < 1 OR p_max_per_client < 1
       OR p_username_window_seconds < 1 OR p_client_window_seconds < 1 THEN
        PERFORM accounts.raise_error('UA005', 'throttle limits and windows must be positive');
    END IF;
    -- Serialise attempts per username, then per client (always in this order, and
    -- in separate lock classes, so two attempts never wait on each other in a cycle).
    PERFORM pg_advisory_xact_lock(hashtext('accounts.login_attempts.username'), hashtext(v_username));
    IF v_client IS NOT NULL THEN
        PERFORM pg_advisory_xact_lock(hashtext('accounts.login_attempts.client'), hashtext(v_client));
    END IF;

    DELETE FROM accounts.login_attempts WHERE attempted_at < least(v_user_since, v_client_since);

    SELECT count(*), min(attempted_at) INTO v_user_count, v_oldest
    FROM accounts.login_attempts
    WHERE username = v_username AND attempted_at >= v_user_since;
    IF v_user_count >= p_max_per_username THEN
        v_retry := extract(epoch FROM v_oldest - v_user_since);
    END IF;
    IF v_client IS NOT NULL THEN
        SELECT count(*), min(attempted_at) INTO v_client_count, v_oldest
        FROM accounts.login_attempts
        WHERE client_ip = v_client AND attempted_at >= v_client_since;
        IF v_client_count >= p_max_per_client THEN
            v_retry := greatest(v_retry, extract(epoch FROM v_oldest - v_client_since));
        END IF;
    END IF;
    IF v_user_count >= p_max_per_username OR v_client_count >= p_max_per_client THEN
        PERFORM accounts.raise_error('UA006', 'Too many failed logins; try again later.', NULL,
            jsonb_build_object('retry_after', greatest(1, ceil(v_retry))::integer));
    END IF;

    INSERT INTO accounts.login_attempts (username, client_ip) VALUES (v_username, v_client);
    RETURN QUERY SELECT v_user_count + 1, v_client_count + (v_client IS NOT NULL)::integer;
END $$;

-- Forgets a username's failed attempts (after a successful login). The client
-- address's other attempts stay: logging in to one's own account must not reset
-- the count of guesses made at others.
CREATE FUNCTION accounts.clear_login_attempts(p_username text) RETURNS integer
LANGUAGE sql AS $$
    WITH gone AS (
        DELETE FROM accounts.login_attempts WHERE username = accounts.login_key(p_username)
        RETURNING 1)
    SELECT count(*)::integer FROM gone
$$;

-- Passwords ---------------------------------------------------------------------

-- What a login needs to know of a username (case-insensitive): the user and the
-- password hash. No row for an unknown username or a user without a password.
CREATE FUNCTION accounts.credentials_for_login(p_username text)
RETURNS TABLE (
    id uuid, username text, display_name text, profile jsonb, status text, roles text[],
    version integer, created_at timestamptz, updated_at timestamptz, password_hash text
)
LANGUAGE sql STABLE AS $$
    SELECT u.id, u.username, u.display_name, u.profile, u.status, u.roles,
           u.version, u.created_at, u.updated_at, c.password_hash
    FROM accounts.users u
    JOIN accounts.credentials c ON c.user_id = u.id
    WHERE lower(u.username) = lower(p_username)
$$;

-- The same for a user id (changePassword checks the current password).
CREATE FUNCTION accounts.credentials_for_user(p_user_id uuid)
RETURNS TABLE (
    id uuid, username text, display_name text, profile jsonb, status text, roles text[],
    version integer, created_at timestamptz, updated_at timestamptz, password_hash text
)
LANGUAGE sql STABLE AS $$
    SELECT u.id, u.username, u.display_name, u.profile, u.status, u.roles,
           u.version, u.created_at, u.updated_at, c.password_hash
    FROM accounts.users u
    JOIN accounts.credentials c ON c.user_id = u.id
    WHERE u.id = p_user_id
$$;

-- Sets or replaces a user's password hash (an argon2id PHC string). A rehash of
-- the same password with new parameters goes through upgrade_password_hash.
CREATE FUNCTION accounts.set_password(p_user_id uuid, p_password_hash text, p_actor_id uuid)
RETURNS accounts.credentials
LANGUAGE plpgsql AS $$
DECLARE
    v_row accounts.credentials;
BEGIN
    IF p_password_hash IS NULL OR p_password_hash NOT LIKE '$argon2id$%'
       OR char_length(p_password_hash) > 512 THEN
        PERFORM accounts.raise_error('UA005', 'the password hash must be an argon2id hash', 'password');
    END IF;
    PERFORM accounts.user_for_update(p_user_id, NULL);
    INSERT INTO accounts.credentials AS c (user_id, password_hash)
    VALUES (p_user_id, p_password_hash)
    ON CONFLICT (user_id) DO UPDATE
        SET password_hash = EXCLUDED.password_hash, password_changed_at = now(), updated_at = now()
    RETURNING * INTO v_row;
    RETURN v_row;
END $$;

-- Replaces the hash of the same password with one made with new parameters; a
-- no-op when the stored hash changed meanwhile (e.g. a concurrent new password).
CREATE FUNCTION accounts.upgrade_password_hash(
    p_user_id uuid, p_old_hash text, p_new_hash text
) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    IF p_new_hash IS NULL OR p_new_hash NOT LIKE '$argon2id$%' OR char_length(p_new_hash) > 512 THEN
        PERFORM accounts.raise_error('UA005', 'the password hash must be an argon2id hash', 'password');
    END IF;
    UPDATE accounts.credentials SET password_hash = p_new_hash, updated_at = now()
    WHERE user_id = p_user_id AND password_hash = p_old_hash;
    RETURN FOUND;
END $$;

-- Refresh tokens ----------------------------------------------------------------

-- Issues a refresh token for an active user, in the given family (NULL: a new
-- one, i.e. a new session). Only the SHA-256 hash of the opaque token is stored.
-- The user's expired tokens are pruned on the way.
CREATE FUNCTION accounts.issue_refresh_token(
    p_user_id uuid, p_token_hash bytea, p_family_id uuid, p_ttl_seconds integer
) RETURNS accounts.refresh_tokens
LANGUAGE plpgsql AS $$
DECLARE
    v_status text;
    v_row    accounts.refresh_tokens;
BEGIN
    IF p_token_hash IS NULL OR octet_length(p_token_hash) <> 32 THEN
        PERFORM accounts.raise_error('UA005', 'a refresh token hash is 32 bytes (SHA-256)', 'refreshToken');
    END IF;
    IF p_ttl_seconds IS NULL OR p_ttl_seconds < 1 THEN
        PERFORM accounts.raise_error('UA005', 'the refresh token lifetime must be positive', 'ttl');
    END IF;
    SELECT status INTO v_status FROM accounts.users WHERE id = p_user_id FOR SHARE;
    IF NOT FOUND THEN
        PERFORM accounts.raise_error('UA001', 'no such user', 'id');
    END IF;
    IF v_status <> 'active' THEN
        PERFORM accounts.raise_error('UA012', 'the account is deactivated');
    END IF;
    DELETE FROM accounts.refresh_tokens WHERE user_id = p_user_id AND expires_at < now();
    INSERT INTO accounts.refresh_tokens (family_id, user_id, token_hash, expires_at)
    VALUES (coalesce(p_family_id, gen_random_uuid()), p_user_id, p_token_hash,
            now() + make_interval(secs => p_ttl_seconds))
    RETURNING * INTO v_row;
    RETURN v_row;
END $$;

-- Revokes every live token of a family; returns how many.
CREATE FUNCTION accounts.revoke_refresh_family(p_family_id uuid) RETURNS integer
LANGUAGE sql AS $$
    WITH revoked AS (
        UPDATE accounts.refresh_tokens SET revoked_at = now()
        WHERE family_id = p_family_id AND revoked_at IS NULL
        RETURNING 1)
    SELECT count(*)::integer FROM revoked
$$;

-- Logout: revokes the family of the token presented (any member of it, used or
-- not). An unknown token revokes nothing; returns how many tokens were revoked.
CREATE FUNCTION accounts.revoke_refresh_token_family(p_token_hash bytea) RETURNS integer
LANGUAGE sql AS $$
    SELECT coalesce(
        (SELECT accounts.revoke_refresh_family(t.family_id)
         FROM accounts.refresh_tokens t WHERE t.token_hash = p_token_hash),
        0)
$$;

-- Revokes all of a user's sessions except one family (NULL: all of them).
CREATE FUNCTION accounts.revoke_user_refresh_tokens(p_user_id uuid, p_except_family uuid)
RETURNS integer
LANGUAGE sql AS $$
    WITH revoked AS (
        UPDATE accounts.refresh_tokens SET revoked_at = now()
        WHERE user_id = p_user_id AND revoked_at IS NULL
          AND family_id IS DISTINCT FROM p_except_family
        RETURNING 1)
    SELECT count(*)::integer FROM revoked
$$;

-- Rotation: the presented token is marked used and its successor issued in the
-- same family. The outcome is returned rather than raised, because a raise would
-- roll back the revocation that reuse must cause:
--   rotated  - the successor's row is returned;
--   unknown  - no such token;
--   expired  - the token's lifetime is over;
--   reused   - the token was already used or revoked: the family is revoked
--              (someone holds a copy of a token that was rotated away);
--   inactive - the user is deactivated: the family is revoked.
CREATE FUNCTION accounts.rotate_refresh_token(
    p_token_hash bytea, p_new_token_hash bytea, p_ttl_seconds integer
) RETURNS TABLE (
    outcome text, user_id uuid, roles text[], token_id uuid, family_id uuid,
    expires_at timestamptz
)
LANGUAGE plpgsql AS $$
DECLARE
    v_old  accounts.refresh_tokens;
    v_user accounts.users;
    v_new  accounts.refresh_tokens;
BEGIN
    SELECT * INTO v_old FROM accounts.refresh_tokens t WHERE t.token_hash = p_token_hash FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'unknown', NULL::uuid, NULL::text[], NULL::uuid, NULL::uuid, NULL::timestamptz;
        RETURN;
    END IF;
    IF v_old.used_at IS NOT NULL OR v_old.revoked_at IS NOT NULL THEN
        PERFORM accounts.revoke_refresh_family(v_old.family_id);
        RETURN QUERY SELECT 'reused', v_old.user_id, NULL::text[], v_old.id, v_old.family_id, v_old.expires_at;
        RETURN;
    END IF;
    IF v_old.expires_at <= now() THEN
        RETURN QUERY SELECT 'expired', v_old.user_id, NULL::text[], v_old.id, v_old.family_id, v_old.expires_at;
        RETURN;
    END IF;
    SELECT * INTO v_user FROM accounts.users u WHERE u.id = v_old.user_id FOR SHARE;
    IF v_user.status <> 'active' THEN
        PERFORM accounts.revoke_refresh_family(v_old.family_id);
        RETURN QUERY SELECT 'inactive', v_old.user_id, NULL::text[], v_old.id, v_old.family_id, v_old.expires_at;
        RETURN;
    END IF;
    v_new := accounts.issue_refresh_token(v_old.user_id, p_new_token_hash, v_old.family_id, p_ttl_seconds);
    UPDATE accounts.refresh_tokens t SET used_at = now(), replaced_by = v_new.id WHERE t.id = v_old.id;
    RETURN QUERY SELECT 'rotated', v_user.id, v_user.roles, v_new.id, v_new.family_id, v_new.expires_at;
END $$;

-- Whole operations (one call, one transaction each) ------------------------------

-- Sign-up: a new user (user.created), their password and a first session.
CREATE FUNCTION accounts.sign_up(
    p_username text, p_display_name text, p_password_hash text,
    p_token_hash bytea, p_ttl_seconds integer
) RETURNS TABLE (
    id uuid, username text, display_name text, profile jsonb, status text, roles text[],
    version integer, created_at timestamptz, updated_at timestamptz,
    token_id uuid, family_id uuid, expires_at timestamptz
)
LANGUAGE plpgsql AS $$
DECLARE
    v_user  accounts.users;
    v_token accounts.refresh_tokens;
BEGIN
    v_user := accounts.create_user(p_username, p_display_name, '{}'::jsonb, '{}'::text[], NULL);
    PERFORM accounts.set_password(v_user.id, p_password_hash, v_user.id);
    v_token := accounts.issue_refresh_token(v_user.id, p_token_hash, NULL, p_ttl_seconds);
    RETURN QUERY SELECT v_user.id, v_user.username, v_user.display_name, v_user.profile,
        v_user.status, v_user.roles, v_user.version, v_user.created_at, v_user.updated_at,
        v_token.id, v_token.family_id, v_token.expires_at;
END $$;

-- A successful login: the username's failures forgotten, a new session issued.
CREATE FUNCTION accounts.login_succeeded(
    p_user_id uuid, p_username text, p_token_hash bytea, p_ttl_seconds integer
) RETURNS accounts.refresh_tokens
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM accounts.clear_login_attempts(p_username);
    RETURN accounts.issue_refresh_token(p_user_id, p_token_hash, NULL, p_ttl_seconds);
END $$;

-- A new password: the hash replaced, a new session issued for the caller, and
-- every other session of the user revoked.
CREATE FUNCTION accounts.change_password(
    p_user_id uuid, p_password_hash text, p_token_hash bytea, p_ttl_seconds integer,
    p_actor_id uuid
) RETURNS accounts.refresh_tokens
LANGUAGE plpgsql AS $$
DECLARE
    v_token accounts.refresh_tokens;
BEGIN
    PERFORM accounts.set_password(p_user_id, p_password_hash, p_actor_id);
    v_token := accounts.issue_refresh_token(p_user_id, p_token_hash, NULL, p_ttl_seconds);
    PERFORM accounts.revoke_user_refresh_tokens(p_user_id, v_token.family_id);
    RETURN v_token;
END $$;
