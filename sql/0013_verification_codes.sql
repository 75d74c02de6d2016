-- One-time codes (PRODUCT §6): contact verification and password recovery by
-- code, and the batch read of sessions for `User.sessions`.
--
-- The service draws a code (6 digits) and hands it to these functions, which
-- keep only its hash (SHA-256 of purpose, target id and code: a code is bound to
-- what it was issued for) and put the code itself in the outbox event that the
-- notification service delivers. Once the broker has taken such an event, the
-- code is removed from the outbox row (trigger below). A code lives a bounded
-- time and allows a bounded number of tries; sending one again is rate-limited
-- per target. Outcomes of trying a code are returned, not raised, so that a
-- wrong try is counted even though the caller gets an error.

-- Sessions, batched -------------------------------------------------------------

-- Live sessions of many users, each user's oldest first.
CREATE FUNCTION accounts.sessions_of_users(p_user_ids uuid[]) RETURNS SETOF accounts.sessions
LANGUAGE sql STABLE AS $$
    SELECT * FROM accounts.sessions s
    WHERE s.user_id = ANY (p_user_ids) AND s.ended_at IS NULL AND s.expires_at > now()
    ORDER BY s.user_id, s.created_at, s.id
$$;

-- Codes -------------------------------------------------------------------------------

-- One row per target: a contact (purpose 'contact') or a user (purpose
-- 'password_reset'). A new code replaces the previous one of its target.
CREATE TABLE accounts.verification_codes (
    purpose           text        NOT NULL
        CONSTRAINT verification_codes_purpose_valid CHECK (purpose IN ('contact', 'password_reset')),
    target_id         uuid        NOT NULL,
    user_id           uuid        NOT NULL REFERENCES accounts.users (id) ON DELETE CASCADE,
    contact_id        uuid        REFERENCES accounts.user_contacts (id) ON DELETE CASCADE,
    -- The contact value the code was sent to: a changed value voids the code.
    sent_to           text        NOT NULL,
    code_hash         bytea       NOT NULL
        CONSTRAINT verification_codes_hash_length CHECK (octet_length(code_hash) = 32),
    expires_at        timestamptz NOT NULL,
    attempts          integer     NOT NULL DEFAULT 0,
    max_attempts      integer     NOT NULL,
    used_at           timestamptz,
    last_sent_at      timestamptz NOT NULL DEFAULT now(),
    -- Sends within the hour that began at sends_since (resend rate limit).
    sends             integer     NOT NULL DEFAULT 1,
    sends_since       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (purpose, target_id)
);
CREATE INDEX verification_codes_user_idx ON accounts.verification_codes (user_id);

CREATE FUNCTION accounts.code_hash(p_purpose text, p_target_id uuid, p_code text) RETURNS bytea
LANGUAGE sql IMMUTABLE AS $$
    SELECT sha256(convert_to(p_purpose || ':' || p_target_id::text || ':' || coalesce(p_code, ''), 'UTF8'))
$$;

-- Stores a new code for a target, unless one was sent less than p_resend_interval
-- seconds ago or p_max_sends were sent within the hour: then returns the seconds
-- to wait (and stores nothing). Returns 0 when the code was stored.
CREATE FUNCTION accounts.store_code(
    p_purpose text, p_target_id uuid, p_user_id uuid, p_contact_id uuid, p_sent_to text,
    p_code text, p_ttl integer, p_max_attempts integer, p_resend_interval integer,
    p_max_sends integer
) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_row  accounts.verification_codes;
    v_wait numeric := 0;
BEGIN
    IF p_code IS NULL OR p_code !~ '^[0-9]{6}$' THEN
        PERFORM accounts.raise_error('UA005', 'a code is 6 digits', 'code');
    END IF;
    IF least(p_ttl, p_max_attempts, p_max_sends) < 1 OR p_resend_interval < 0 THEN
        PERFORM accounts.raise_error('UA005', 'code limits must be positive');
    END IF;
    SELECT * INTO v_row FROM accounts.verification_codes c
    WHERE c.purpose = p_purpose AND c.target_id = p_target_id FOR UPDATE;
    IF FOUND THEN
        IF v_row.last_sent_at > now() - make_interval(secs => p_resend_interval) THEN
            v_wait := extract(epoch FROM v_row.last_sent_at + make_interval(secs => p_resend_interval) - now());
        END IF;
        IF v_row.sends_since > now() - interval '1 hour' AND v_row.sends >= p_max_sends THEN
            v_wait := greatest(v_wait, extract(epoch FROM v_row.sends_since + interval '1 hour' - now()));
        END IF;
        IF v_wait > 0 THEN
            RETURN greatest(1, ceil(v_wait))::integer;
        END IF;
        UPDATE accounts.verification_codes c
        SET user_id = p_user_id, contact_id = p_contact_id, sent_to = p_sent_to,
            code_hash = accounts.code_hash(p_purpose, p_target_id, p_code),
            expires_at = now() + make_interval(secs => p_ttl),
            attempts = 0, max_attempts = p_max_attempts, used_at = NULL, last_sent_at = now(),
            sends = CASE WHEN c.sends_since > now() - interval '1 hour' THEN c.sends + 1 ELSE 1 END,
            sends_since = CASE WHEN c.sends_since > now() - interval '1 hour' THEN c.sends_since ELSE now() END
        WHERE c.purpose = p_purpose AND c.target_id = p_target_id;
    ELSE
        INSERT INTO accounts.verification_codes
            (purpose, target_id, user_id, contact_id, sent_to, code_hash, expires_at, max_attempts)
        VALUES (p_purpose, p_target_id, p_user_id, p_contact_id, p_sent_to,
                accounts.code_hash(p_purpose, p_target_id, p_code),
                now() + make_interval(secs => p_ttl), p_max_attempts);
    END IF;
    RETURN 0;
END $$;

-- Tries a code: 'ok' (now used), 'invalid' (wrong, used, or none issued: a wrong
-- try counts), 'expired', 'exhausted' (no tries left: a new code is needed).
-- p_sent_to: the value the target has now; a code sent to another value is
-- 'invalid'.
CREATE FUNCTION accounts.try_code(
    p_purpose text, p_target_id uuid, p_code text, p_sent_to text
) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_row accounts.verification_codes;
BEGIN
    SELECT * INTO v_row FROM accounts.verification_codes c
    WHERE c.purpose = p_purpose AND c.target_id = p_target_id FOR UPDATE;
    IF NOT FOUND OR v_row.used_at IS NOT NULL THEN
        RETURN 'invalid';
    END IF;
    IF v_row.attempts >= v_row.max_attempts THEN
        RETURN 'exhausted';
    END IF;
    IF v_row.expires_at <= now() THEN
        RETURN 'expired';
    END IF;
    IF v_row.code_hash <> accounts.code_hash(p_purpose, p_target_id, p_code)
       OR v_row.sent_to IS DISTINCT FROM p_sent_to THEN
        UPDATE accounts.verification_codes c SET attempts = c.attempts + 1
        WHERE c.purpose = p_purpose AND c.target_id = p_target_id;
        RETURN CASE WHEN v_row.attempts + 1 >= v_row.max_attempts THEN 'exhausted' ELSE 'invalid' END;
    END IF;
    UPDATE accounts.verification_codes c SET used_at = now(), attempts = c.attempts + 1
    WHERE c.purpose = p_purpose AND c.target_id = p_target_id;
    RETURN 'ok';
END $$;

-- Events whose payload holds a code: once published, the outbox forgets it.
CREATE FUNCTION accounts.outbox_forget_codes() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.payload := NEW.payload - 'code';
    RETURN NEW;
END $$;

CREATE TRIGGER outbox_forget_codes
    BEFORE UPDATE OF published_at ON accounts.outbox
    FOR EACH ROW
    WHEN (OLD.published_at IS NULL AND NEW.published_at IS NOT NULL
          AND NEW.event_type IN ('contact.verification_requested', 'user.password_reset_requested'))
    EXECUTE FUNCTION accounts.outbox_forget_codes();

-- Contact verification -----------------------------------------------------------------

-- Sends a code to an active, unverified contact: `contact.verification_requested`
-- with the code. Returns 0, or the seconds to wait before another send (nothing
-- recorded then). The caller has checked that the actor may.
CREATE FUNCTION accounts.request_contact_verification(
    p_contact_id uuid, p_code text, p_ttl integer, p_max_attempts integer,
    p_resend_interval integer, p_max_sends integer, p_actor_id uuid
) RETURNS TABLE (retry_after integer, expires_at timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
    v_contact accounts.user_contacts := accounts.contact_lock(p_contact_id, true);
    v_wait    integer;
    v_expires timestamptz := now() + make_interval(secs => p_ttl);
BEGIN
    IF NOT v_contact.is_active THEN
        PERFORM accounts.raise_error('UA010', 'the contact is deactivated', 'contactId');
    END IF;
    IF v_contact.is_verified THEN
        PERFORM accounts.raise_error('UA010', 'the contact is verified already', 'contactId');
    END IF;
    v_wait := accounts.store_code('contact', v_contact.id, v_contact.user_id, v_contact.id,
        v_contact.value, p_code, p_ttl, p_max_attempts, p_resend_interval, p_max_sends);
    IF v_wait > 0 THEN
        RETURN QUERY SELECT v_wait, NULL::timestamptz;
        RETURN;
    END IF;
    PERFORM accounts.emit_event('contact.verification_requested', 'user', v_contact.user_id,
        jsonb_build_object('contact', accounts.contact_state(v_contact),
                           'code', p_code, 'expires_at', v_expires),
        p_actor_id);
    RETURN QUERY SELECT 0, v_expires;
END $$;

-- Tries a contact's code: on 'ok' the contact is verified (`contact.verified`).
-- Returns the outcome (see try_code) and the contact as it is afterwards.
CREATE FUNCTION accounts.verify_contact(p_contact_id uuid, p_code text, p_actor_id uuid)
RETURNS TABLE (outcome text, contact_id uuid)
LANGUAGE plpgsql AS $$
DECLARE
    v_contact accounts.user_contacts := accounts.contact_lock(p_contact_id, true);
    v_outcome text;
BEGIN
    IF NOT v_contact.is_active THEN
        PERFORM accounts.raise_error('UA010', 'the contact is deactivated', 'contactId');
    END IF;
    IF v_contact.is_verified THEN
        PERFORM accounts.raise_error('UA010', 'the contact is verified already', 'contactId');
    END IF;
    v_outcome := accounts.try_code('contact', v_contact.id, p_code, v_contact.value);
    IF v_outcome = 'ok' THEN
        UPDATE accounts.user_contacts c SET is_verified = true, updated_at = now()
        WHERE c.id = v_contact.id
        RETURNING * INTO v_contact;
        PERFORM accounts.emit_event('contact.verified', 'user', v_contact.user_id,
            jsonb_build_object('contact', accounts.contact_state(v_contact)), p_actor_id);
    END IF;
    RETURN QUERY SELECT v_outcome, v_contact.id;
END $$;

-- Password recovery --------------------------------------------------------------------

-- The user a recovery login names: a username (without regard to case) or the
-- value of a verified, active email contact; and the verified email to send to
-- (the primary one first). No row: no such account, or none to send to.
CREATE FUNCTION accounts.recovery_target(p_login text)
RETURNS TABLE (user_id uuid, username text, contact_id uuid)
LANGUAGE sql STABLE AS $$
    WITH named AS (
        SELECT u.id, u.username FROM accounts.users u
        WHERE lower(u.username) = lower(btrim(p_login)) AND u.status = 'active'
        UNION
        SELECT u.id, u.username FROM accounts.users u
        JOIN accounts.user_contacts c ON c.user_id = u.id
        JOIN accounts.contact_types t ON t.id = c.contact_type_id
        WHERE t.code = 'email' AND c.is_active AND c.is_verified
          AND c.value = lower(btrim(p_login)) AND u.status = 'active'
    )
    SELECT n.id, n.username, e.id
    FROM named n
    JOIN LATERAL (
        SELECT c.id FROM accounts.user_contacts c
        JOIN accounts.contact_types t ON t.id = c.contact_type_id
        WHERE c.user_id = n.id AND t.code = 'email' AND c.is_active AND c.is_verified
        ORDER BY c.is_primary DESC, c.created_at, c.id
        LIMIT 1
    ) e ON true
    JOIN accounts.credentials cr ON cr.user_id = n.id
    LIMIT 1
$$;

-- A recovery request: when the login names an account with a password and a
-- verified email, a code is stored and `user.password_reset_requested` carries it
-- to that email. Returns nothing either way: the caller answers the same whether
-- or not the account exists (a resend too soon sends nothing, silently).
CREATE FUNCTION accounts.request_password_reset(
    p_login text, p_code text, p_ttl integer, p_max_attempts integer,
    p_resend_interval integer, p_max_sends integer
) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_user_id  uuid;
    v_username text;
    v_contact  accounts.user_contacts;
    v_expires  timestamptz := now() + make_interval(secs => p_ttl);
BEGIN
    SELECT r.user_id, r.username, r.contact_id INTO v_user_id, v_username, v_contact.id
    FROM accounts.recovery_target(p_login) r;
    IF v_user_id IS NULL THEN
        RETURN;
    END IF;
    SELECT * INTO v_contact FROM accounts.user_contacts c WHERE c.id = v_contact.id;
    IF accounts.store_code('password_reset', v_user_id, v_user_id, v_contact.id, v_contact.value,
           p_code, p_ttl, p_max_attempts, p_resend_interval, p_max_sends) > 0 THEN
        RETURN;
    END IF;
    PERFORM accounts.emit_event('user.password_reset_requested', 'user', v_user_id,
        jsonb_build_object(
            'user', jsonb_build_object('id', v_user_id, 'username', v_username),
            'contact', accounts.contact_state(v_contact),
            'code', p_code, 'expires_at', v_expires),
        NULL);
END $$;

-- A reset: the code of the account the login names is tried; on 'ok' the
-- password is replaced, every session ends ('password_reset') and
-- `user.password_reset` is recorded. An unknown login is 'invalid', like a
-- wrong code. Returns the outcome and, on 'ok', the user's id.
CREATE FUNCTION accounts.reset_password(p_login text, p_code text, p_password_hash text)
RETURNS TABLE (outcome text, user_id uuid)
LANGUAGE plpgsql AS $$
DECLARE
    v_user_id  uuid;
    v_username text;
    v_contact  uuid;
    v_outcome  text;
    v_ended    integer;
BEGIN
    SELECT r.user_id, r.username, r.contact_id INTO v_user_id, v_username, v_contact
    FROM accounts.recovery_target(p_login) r;
    IF v_user_id IS NULL THEN
        RETURN QUERY SELECT 'invalid', NULL::uuid;
        RETURN;
    END IF;
    v_outcome := accounts.try_code('password_reset', v_user_id, p_code,
        (SELECT c.value FROM accounts.user_contacts c WHERE c.id = v_contact));
    IF v_outcome <> 'ok' THEN
        RETURN QUERY SELECT v_outcome, NULL::uuid;
        RETURN;
    END IF;
    PERFORM accounts.set_password(v_user_id, p_password_hash, v_user_id);
    v_ended := accounts.end_user_sessions(v_user_id, NULL, 'password_reset', v_user_id);
    PERFORM accounts.emit_event('user.password_reset', 'user', v_user_id,
        jsonb_build_object(
            'user', jsonb_build_object('id', v_user_id, 'username', v_username),
            'sessions_ended', v_ended),
        v_user_id);
    RETURN QUERY SELECT 'ok', v_user_id;
END $$;
