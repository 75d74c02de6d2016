-- Sessions and throttling that cannot lock the owner out (PRODUCT §6).
--
-- * Throttling: failed attempts are counted per (key, client address), per client
--   address overall and per key across addresses, where the key is a username
--   for logins (scope 'login') and a login for password resets ('reset'). The
--   per-key count across addresses only slows addresses that have themselves
--   failed on the key: the owner, from an address that has not failed, is never
--   refused because another address hammers the account.
-- * Sessions: one row per refresh-token family (sessions.id = family_id), with
--   when it was opened and last used, the user agent and address, and when and
--   why it ended. Ending a session records `session.revoked` in the outbox.
-- * Refresh with a grace window: a second use of a just-rotated refresh token
--   within the window answers the same successor (two tabs refreshing at once);
--   later reuse ends the session. The successor is kept sealed with a pad that
--   only the presented token yields (see services/auth.py), never in the clear.
--
-- The functions of 0007 that wrote tokens or attempts without sessions are
-- replaced here and dropped, so that no path can bypass a session.

-- Throttling -----------------------------------------------------------------------

ALTER TABLE accounts.login_attempts
    ADD COLUMN scope text NOT NULL DEFAULT 'login'
        CONSTRAINT login_attempts_scope_valid CHECK (scope IN ('login', 'reset'));
CREATE INDEX login_attempts_scope_key_idx
    ON accounts.login_attempts (scope, username, client_ip, attempted_at);
DROP INDEX accounts.login_attempts_username_idx;

-- Counts one attempt of `p_scope` at key `p_key` from `p_client_ip`, unless it is
-- throttled: then raises UA017 (THROTTLED) with detail {"retry_after": seconds}
-- and records nothing, so that a refused caller does not extend its own wait.
--   * pair:   p_max_per_pair failures of this key from this address in the key
--     window refuse this address for this key until the oldest ages out;
--   * client: p_max_per_client failures from this address (any key) in the
--     client window refuse this address for every key;
--   * key:    once the key has p_slowdown_after failures in its window (from
--     any addresses), an address that has failed on it itself waits
--     2^(failures - p_slowdown_after) seconds (at most p_slowdown_max) after its
--     own last failure. An address with no failure on the key is not slowed.
-- Rows older than both windows of the scope are pruned on the way. Returns the
-- counts, this attempt included.
CREATE FUNCTION accounts.throttle_attempt(
    p_scope text,
    p_key text,
    p_client_ip text,
    p_max_per_pair integer,
    p_max_per_client integer,
    p_slowdown_after integer,
    p_slowdown_max integer,
    p_key_window integer,
    p_client_window integer,
    p_message text
) RETURNS TABLE (pair_failures integer, key_failures integer, client_failures integer)
LANGUAGE plpgsql AS $$
DECLARE
    v_key          text := accounts.login_key(p_key);
    v_client       text := left(nullif(btrim(p_client_ip), ''), 64);
    v_key_since    timestamptz := now() - make_interval(secs => p_key_window);
    v_client_since timestamptz := now() - make_interval(secs => p_client_window);
    v_pair         integer;
    v_pair_oldest  timestamptz;
    v_pair_last    timestamptz;
    v_key_count    integer;
    v_client_count integer := 0;
    v_client_oldest timestamptz;
    v_refused      boolean := false;
    v_retry        numeric := 0;
    v_delay        numeric;
BEGIN
    IF least(p_max_per_pair, p_max_per_client, p_slowdown_after, p_key_window, p_client_window) < 1
       OR p_slowdown_max < 0 THEN
        PERFORM accounts.raise_error('UA005', 'throttle limits and windows must be positive');
    END IF;
    -- One order for every attempt (key, then client; separate lock classes), so
    -- two attempts never wait on each other in a cycle.
    PERFORM pg_advisory_xact_lock(hashtext('accounts.throttle.key'), hashtext(p_scope || ':' || v_key));
    IF v_client IS NOT NULL THEN
        PERFORM pg_advisory_xact_lock(hashtext('accounts.throttle.client'), hashtext(p_scope || ':' || v_client));
    END IF;

    DELETE FROM accounts.login_attempts a
    WHERE a.scope = p_scope AND a.attempted_at < least(v_key_since, v_client_since);

    SELECT count(*) FILTER (WHERE a.client_ip IS NOT DISTINCT FROM v_client),
           min(a.attempted_at) FILTER (WHERE a.client_ip IS NOT DISTINCT FROM v_client),
           max(a.attempted_at) FILTER (WHERE a.client_ip IS NOT DISTINCT FROM v_client),
           count(*)
      INTO v_pair, v_pair_oldest, v_pair_last, v_key_count
    FROM accounts.login_attempts a
    WHERE a.scope = p_scope AND a.username = v_key AND a.attempted_at >= v_key_since;

    IF v_pair >= p_max_per_pair THEN
        v_refused := true;
        v_retry := extract(epoch FROM v_pair_oldest - v_key_since);
    END IF;
    IF v_key_count >= p_slowdown_after AND v_pair > 0 THEN
        v_delay := least(p_slowdown_max, power(2, least(v_key_count - p_slowdown_after, 20)));
        IF v_pair_last + make_interval(secs => v_delay) > now() THEN
            v_refused := true;
            v_retry := greatest(v_retry,
                extract(epoch FROM v_pair_last + make_interval(secs => v_delay) - now()));
        END IF;
    END IF;
    IF v_client IS NOT NULL THEN
        SELECT count(*), min(a.attempted_at) INTO v_client_count, v_client_oldest
        FROM accounts.login_attempts a
        WHERE a.scope = p_scope AND a.client_ip = v_client AND a.attempted_at >= v_client_since;
        IF v_client_count >= p_max_per_client THEN
            v_refused := true;
            v_retry := greatest(v_retry, extract(epoch FROM v_client_oldest - v_client_since));
        END IF;
    END IF;
    IF v_refused THEN
        PERFORM accounts.raise_error('UA017', p_message, NULL,
            jsonb_build_object('retry_after', greatest(1, ceil(v_retry))::integer));
    END IF;

    INSERT INTO accounts.login_attempts (scope, username, client_ip) VALUES (p_scope, v_key, v_client);
    RETURN QUERY SELECT v_pair + 1, v_key_count + 1, v_client_count + (v_client IS NOT NULL)::integer;
END $$;

-- Forgets the attempts of one key from one address (after a success there). The
-- key's failures from other addresses stay, and so do the address's failures at
-- other keys: succeeding at one's own account resets neither an attacker's count
-- nor the count of guesses made elsewhere.
CREATE FUNCTION accounts.clear_attempts(p_scope text, p_key text, p_client_ip text)
RETURNS integer
LANGUAGE sql AS $$
    WITH gone AS (
        DELETE FROM accounts.login_attempts a
        WHERE a.scope = p_scope AND a.username = accounts.login_key(p_key)
          AND a.client_ip IS NOT DISTINCT FROM left(nullif(btrim(p_client_ip), ''), 64)
        RETURNING 1)
    SELECT count(*)::integer FROM gone
$$;

DROP FUNCTION accounts.record_login_attempt(text, text, integer, integer, integer, integer);
DROP FUNCTION accounts.clear_login_attempts(text);

-- Sessions -------------------------------------------------------------------------

CREATE TABLE accounts.sessions (
    -- The refresh-token family's id.
    id             uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id        uuid        NOT NULL REFERENCES accounts.users (id) ON DELETE CASCADE,
    created_at     timestamptz NOT NULL DEFAULT now(),
    last_used_at   timestamptz NOT NULL DEFAULT now(),
    -- When its newest refresh token expires.
    expires_at     timestamptz NOT NULL,
    user_agent     text
        CONSTRAINT sessions_user_agent_length CHECK (char_length(user_agent) <= 512),
    client_address text
        CONSTRAINT sessions_client_address_length CHECK (char_length(client_address) <= 64),
    ended_at       timestamptz,
    end_reason     text
        CONSTRAINT sessions_end_reason_valid CHECK (end_reason IN (
            'logged_out', 'revoked', 'reuse_detected', 'password_changed',
            'password_reset', 'deactivated')),
    CONSTRAINT sessions_ended CHECK ((ended_at IS NULL) = (end_reason IS NULL))
);
CREATE INDEX sessions_user_idx ON accounts.sessions (user_id, created_at, id);

-- Families issued before this migration become sessions; one whose tokens are
-- all revoked ended then.
INSERT INTO accounts.sessions (id, user_id, created_at, last_used_at, expires_at, ended_at, end_reason)
SELECT t.family_id, t.user_id, min(t.created_at), max(t.created_at), max(t.expires_at),
       CASE WHEN bool_and(t.revoked_at IS NOT NULL) THEN max(t.revoked_at) END,
       CASE WHEN bool_and(t.revoked_at IS NOT NULL) THEN 'revoked' END
FROM accounts.refresh_tokens t
GROUP BY t.family_id, t.user_id;

ALTER TABLE accounts.refresh_tokens
    ADD CONSTRAINT refresh_tokens_session_fkey
        FOREIGN KEY (family_id) REFERENCES accounts.sessions (id) ON DELETE CASCADE,
    -- The successor's token XOR a pad derived from this token (32 bytes), kept
    -- for the grace window: only whoever presents this token can unseal it.
    ADD COLUMN successor_seal bytea
        CONSTRAINT refresh_tokens_successor_seal_length CHECK (octet_length(successor_seal) = 32);

-- A session as events carry it (no token, no hash).
CREATE FUNCTION accounts.session_state(s accounts.sessions) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object(
        'id', s.id,
        'user_id', s.user_id,
        'created_at', s.created_at,
        'last_used_at', s.last_used_at,
        'user_agent', s.user_agent,
        'client_address', s.client_address,
        'ended_at', s.ended_at,
        'end_reason', s.end_reason)
$$;

-- A user's live sessions (not ended, not expired), oldest first.
CREATE FUNCTION accounts.sessions_of_user(p_user_id uuid) RETURNS SETOF accounts.sessions
LANGUAGE sql STABLE AS $$
    SELECT * FROM accounts.sessions s
    WHERE s.user_id = p_user_id AND s.ended_at IS NULL AND s.expires_at > now()
    ORDER BY s.created_at, s.id
$$;

CREATE FUNCTION accounts.sessions_by_ids(p_ids uuid[]) RETURNS SETOF accounts.sessions
LANGUAGE sql STABLE AS $$
    SELECT * FROM accounts.sessions s WHERE s.id = ANY (p_ids)
$$;

-- Ends a live session: its refresh tokens stop working at once, and
-- `session.revoked` is recorded. Returns the ended row, or NULL when the session
-- does not exist or had ended already (nothing recorded then).
CREATE FUNCTION accounts.end_session(p_session_id uuid, p_reason text, p_actor_id uuid)
RETURNS accounts.sessions
LANGUAGE plpgsql AS $$
DECLARE
    v_row accounts.sessions;
BEGIN
    UPDATE accounts.sessions s SET ended_at = now(), end_reason = p_reason
    WHERE s.id = p_session_id AND s.ended_at IS NULL
    RETURNING * INTO v_row;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    UPDATE accounts.refresh_tokens t SET revoked_at = now(), successor_seal = NULL
    WHERE t.family_id = p_session_id AND t.revoked_at IS NULL;
    PERFORM accounts.emit_event('session.revoked', 'user', v_row.user_id,
        jsonb_build_object('session', accounts.session_state(v_row)), p_actor_id);
    RETURN v_row;
END $$;

-- Ends every live session of a user but one (NULL: all); returns how many.
CREATE FUNCTION accounts.end_user_sessions(
    p_user_id uuid, p_except_session uuid, p_reason text, p_actor_id uuid
) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_id    uuid;
    v_count integer := 0;
BEGIN
    FOR v_id IN
        SELECT s.id FROM accounts.sessions s
        WHERE s.user_id = p_user_id AND s.ended_at IS NULL
          AND s.id IS DISTINCT FROM p_except_session
        ORDER BY s.created_at, s.id
    LOOP
        IF accounts.end_session(v_id, p_reason, p_actor_id) IS NOT NULL THEN
            v_count := v_count + 1;
        END IF;
    END LOOP;
    RETURN v_count;
END $$;

-- Issues a refresh token for an active user, in session p_family_id (NULL: a
-- new session). Replaces 0007's version: every family now has its session row.
CREATE OR REPLACE FUNCTION accounts.issue_refresh_token(
    p_user_id uuid, p_token_hash bytea, p_family_id uuid, p_ttl_seconds integer
) RETURNS accounts.refresh_tokens
LANGUAGE plpgsql AS $$
DECLARE
    v_status  text;
    v_session uuid := p_family_id;
    v_row     accounts.refresh_tokens;
BEGIN
    IF p_token_hash IS NULL OR octet_length(p_token_hash) <> 32 THEN
        PERFORM accounts.raise_error('UA005', 'a refresh token hash is 32 bytes (SHA-256)', 'refreshToken');
    END IF;
    IF p_ttl_seconds IS NULL OR p_ttl_seconds < 1 THEN
        PERFORM accounts.raise_error('UA005', 'the refresh token lifetime must be positive', 'ttl');
    END IF;
    SELECT u.status INTO v_status FROM accounts.users u WHERE u.id = p_user_id FOR SHARE;
    IF NOT FOUND THEN
        PERFORM accounts.raise_error('UA001', 'no such user', 'id');
    END IF;
    IF v_status <> 'active' THEN
        PERFORM accounts.raise_error('UA012', 'the account is deactivated');
    END IF;
    DELETE FROM accounts.refresh_tokens t WHERE t.user_id = p_user_id AND t.expires_at < now();
    DELETE FROM accounts.sessions s
    WHERE s.user_id = p_user_id AND s.expires_at < now() - interval '1 day';
    IF v_session IS NULL THEN
        INSERT INTO accounts.sessions (user_id, expires_at)
        VALUES (p_user_id, now() + make_interval(secs => p_ttl_seconds))
        RETURNING id INTO v_session;
    ELSE
        UPDATE accounts.sessions s
        SET last_used_at = now(), expires_at = now() + make_interval(secs => p_ttl_seconds)
        WHERE s.id = v_session;
    END IF;
    INSERT INTO accounts.refresh_tokens (family_id, user_id, token_hash, expires_at)
    VALUES (v_session, p_user_id, p_token_hash, now() + make_interval(secs => p_ttl_seconds))
    RETURNING * INTO v_row;
    RETURN v_row;
END $$;

-- A new session for an active user, with what the caller told about itself.
CREATE FUNCTION accounts.open_session(
    p_user_id uuid, p_token_hash bytea, p_ttl_seconds integer,
    p_user_agent text, p_client_address text
) RETURNS accounts.refresh_tokens
LANGUAGE plpgsql AS $$
DECLARE
    v_token accounts.refresh_tokens;
BEGIN
    v_token := accounts.issue_refresh_token(p_user_id, p_token_hash, NULL, p_ttl_seconds);
    UPDATE accounts.sessions s
    SET user_agent = left(nullif(btrim(p_user_agent), ''), 512),
        client_address = left(nullif(btrim(p_client_address), ''), 64)
    WHERE s.id = v_token.family_id;
    RETURN v_token;
END $$;

-- Refresh: the presented token is marked used and its successor issued in the
-- same session. The outcome is returned rather than raised, because a raise
-- would roll back the ending of the session that reuse must cause:
--   rotated  - the successor's row (successor_seal NULL: the caller's new token);
--   grace    - the token was rotated less than p_grace_seconds ago: the same
--              successor again, sealed (successor_seal) for the presenter;
--   unknown  - no such token;
--   expired  - the token's lifetime is over;
--   ended    - the session ended (end_reason says why: logged_out, revoked, ...);
--   reused   - the token was rotated longer ago than the grace window: someone
--              holds a copy, so the session ends ('reuse_detected');
--   inactive - the user is deactivated: the session ends ('deactivated').
-- The session's row is locked first (as end_session does), so two refreshes of
-- one token take turns and the second sees the first's rotation.
CREATE FUNCTION accounts.refresh_session(
    p_token_hash bytea, p_new_token_hash bytea, p_successor_seal bytea,
    p_ttl_seconds integer, p_grace_seconds integer, p_client_address text
) RETURNS TABLE (
    outcome text, user_id uuid, roles text[], session_id uuid, end_reason text,
    successor_seal bytea, expires_at timestamptz
)
LANGUAGE plpgsql AS $$
DECLARE
    v_family  uuid;
    v_session accounts.sessions;
    v_old     accounts.refresh_tokens;
    v_next    accounts.refresh_tokens;
    v_user    accounts.users;
    v_new     accounts.refresh_tokens;
BEGIN
    IF p_grace_seconds IS NULL OR p_grace_seconds < 0 THEN
        PERFORM accounts.raise_error('UA005', 'the grace window must not be negative', 'grace');
    END IF;
    SELECT t.family_id INTO v_family FROM accounts.refresh_tokens t WHERE t.token_hash = p_token_hash;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'unknown', NULL::uuid, NULL::text[], NULL::uuid, NULL::text, NULL::bytea, NULL::timestamptz;
        RETURN;
    END IF;
    SELECT * INTO v_session FROM accounts.sessions s WHERE s.id = v_family FOR UPDATE;
    SELECT * INTO v_old FROM accounts.refresh_tokens t WHERE t.token_hash = p_token_hash FOR UPDATE;
    IF v_session.ended_at IS NOT NULL OR v_old.revoked_at IS NOT NULL THEN
        RETURN QUERY SELECT 'ended', v_old.user_id, NULL::text[], v_family,
            coalesce(v_session.end_reason, 'revoked'), NULL::bytea, NULL::timestamptz;
        RETURN;
    END IF;
    SELECT * INTO v_user FROM accounts.users u WHERE u.id = v_old.user_id FOR SHARE;
    IF v_old.used_at IS NOT NULL THEN
        IF v_old.successor_seal IS NOT NULL
           AND v_old.used_at >= now() - make_interval(secs => p_grace_seconds)
           AND v_user.status = 'active' THEN
            SELECT * INTO v_next FROM accounts.refresh_tokens t WHERE t.id = v_old.replaced_by;
            IF FOUND AND v_next.revoked_at IS NULL AND v_next.expires_at > now() THEN
                UPDATE accounts.sessions s SET last_used_at = now() WHERE s.id = v_family;
                RETURN QUERY SELECT 'grace', v_user.id, v_user.roles, v_family, NULL::text,
                    v_old.successor_seal, v_next.expires_at;
                RETURN;
            END IF;
        END IF;
        PERFORM accounts.end_session(v_family, 'reuse_detected', NULL);
        RETURN QUERY SELECT 'reused', v_old.user_id, NULL::text[], v_family, 'reuse_detected',
            NULL::bytea, NULL::timestamptz;
        RETURN;
    END IF;
    IF v_old.expires_at <= now() THEN
        RETURN QUERY SELECT 'expired', v_old.user_id, NULL::text[], v_family, NULL::text,
            NULL::bytea, NULL::timestamptz;
        RETURN;
    END IF;
    IF v_user.status <> 'active' THEN
        PERFORM accounts.end_session(v_family, 'deactivated', NULL);
        RETURN QUERY SELECT 'inactive', v_old.user_id, NULL::text[], v_family, 'deactivated',
            NULL::bytea, NULL::timestamptz;
        RETURN;
    END IF;
    IF p_successor_seal IS NULL OR octet_length(p_successor_seal) <> 32 THEN
        PERFORM accounts.raise_error('UA005', 'a successor seal is 32 bytes', 'refreshToken');
    END IF;
    v_new := accounts.issue_refresh_token(v_old.user_id, p_new_token_hash, v_family, p_ttl_seconds);
    UPDATE accounts.refresh_tokens t
    SET used_at = now(), replaced_by = v_new.id, successor_seal = p_successor_seal
    WHERE t.id = v_old.id;
    -- Seals of tokens rotated before the window are of no use any more.
    UPDATE accounts.refresh_tokens t SET successor_seal = NULL
    WHERE t.family_id = v_family AND t.successor_seal IS NOT NULL
      AND t.used_at < now() - make_interval(secs => p_grace_seconds);
    IF p_client_address IS NOT NULL THEN
        UPDATE accounts.sessions s SET client_address = left(nullif(btrim(p_client_address), ''), 64)
        WHERE s.id = v_family;
    END IF;
    RETURN QUERY SELECT 'rotated', v_user.id, v_user.roles, v_family, NULL::text,
        NULL::bytea, v_new.expires_at;
END $$;

-- Logout: ends the session of the token presented (any token of it, used or
-- not). Returns the ended session, or NULL (unknown token, already ended).
CREATE FUNCTION accounts.logout(p_token_hash bytea) RETURNS accounts.sessions
LANGUAGE sql AS $$
    SELECT accounts.end_session(t.family_id, 'logged_out', t.user_id)
    FROM accounts.refresh_tokens t WHERE t.token_hash = p_token_hash
$$;

-- Whole operations (one call, one transaction each), replacing 0007's ----------------

-- Sign-up: a new user (user.created), their password and a first session.
CREATE FUNCTION accounts.sign_up_session(
    p_username text, p_display_name text, p_password_hash text,
    p_token_hash bytea, p_ttl_seconds integer, p_user_agent text, p_client_address text
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
    v_token := accounts.open_session(v_user.id, p_token_hash, p_ttl_seconds, p_user_agent, p_client_address);
    RETURN QUERY SELECT v_user.id, v_user.username, v_user.display_name, v_user.profile,
        v_user.status, v_user.roles, v_user.version, v_user.created_at, v_user.updated_at,
        v_token.id, v_token.family_id, v_token.expires_at;
END $$;

-- A successful login: this address's attempts at the username forgotten, a new
-- session opened.
CREATE FUNCTION accounts.login_session(
    p_user_id uuid, p_username text, p_token_hash bytea, p_ttl_seconds integer,
    p_user_agent text, p_client_address text
) RETURNS accounts.refresh_tokens
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM accounts.clear_attempts('login', p_username, p_client_address);
    RETURN accounts.open_session(p_user_id, p_token_hash, p_ttl_seconds, p_user_agent, p_client_address);
END $$;

-- A new password: the hash replaced, a new session opened for the caller, and
-- every other session of the user ended ('password_changed').
CREATE FUNCTION accounts.change_password_session(
    p_user_id uuid, p_password_hash text, p_token_hash bytea, p_ttl_seconds integer,
    p_user_agent text, p_client_address text, p_actor_id uuid
) RETURNS accounts.refresh_tokens
LANGUAGE plpgsql AS $$
DECLARE
    v_token accounts.refresh_tokens;
BEGIN
    PERFORM accounts.set_password(p_user_id, p_password_hash, p_actor_id);
    PERFORM accounts.clear_attempts('login',
        (SELECT u.username FROM accounts.users u WHERE u.id = p_user_id), p_client_address);
    v_token := accounts.open_session(p_user_id, p_token_hash, p_ttl_seconds, p_user_agent, p_client_address);
    PERFORM accounts.end_user_sessions(p_user_id, v_token.family_id, 'password_changed', p_actor_id);
    RETURN v_token;
END $$;

DROP FUNCTION accounts.sign_up(text, text, text, bytea, integer);
DROP FUNCTION accounts.login_succeeded(uuid, text, bytea, integer);
DROP FUNCTION accounts.change_password(uuid, text, bytea, integer, uuid);
DROP FUNCTION accounts.rotate_refresh_token(bytea, bytea, integer);
DROP FUNCTION accounts.revoke_refresh_token_family(bytea);
DROP FUNCTION accounts.revoke_user_refresh_tokens(uuid, uuid);
DROP FUNCTION accounts.revoke_refresh_family(uuid);
