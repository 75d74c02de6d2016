-- The accounts schema: tables, constraints and indexes (PRODUCT §3).
-- Every invariant lives here as a constraint or an index, so that two replicas
-- racing each other cannot break one. Stored functions come in later files.

CREATE SCHEMA accounts;

-- Users ---------------------------------------------------------------------

CREATE TABLE accounts.users (
    id              uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    username        text        NOT NULL
        CONSTRAINT users_username_format CHECK (username ~ '^[A-Za-z0-9._-]{3,32}$'),
    display_name    text        NOT NULL DEFAULT ''
        CONSTRAINT users_display_name_length CHECK (char_length(display_name) <= 100),
    profile         jsonb       NOT NULL DEFAULT '{}'
        CONSTRAINT users_profile_object CHECK (jsonb_typeof(profile) = 'object')
        CONSTRAINT users_profile_size CHECK (octet_length(profile::text) <= 16384),
    status          text        NOT NULL DEFAULT 'active'
        CONSTRAINT users_status_valid CHECK (status IN ('active', 'deactivated')),
    roles           text[]      NOT NULL DEFAULT '{}'
        CONSTRAINT users_roles_valid CHECK (roles <@ ARRAY['admin']::text[]),
    version         integer     NOT NULL DEFAULT 1,
    -- Maintained by a trigger on user_contacts; the check bounds contacts per user
    -- and the row lock it takes serialises concurrent additions.
    active_contacts integer     NOT NULL DEFAULT 0
        CONSTRAINT users_contacts_limit CHECK (active_contacts BETWEEN 0 AND 50),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- Unique without regard to case: 'Alice' and 'alice' cannot both exist.
CREATE UNIQUE INDEX users_username_key ON accounts.users (lower(username));
-- Keyset orders of the users connection.
CREATE INDEX users_created_at_idx ON accounts.users (created_at, id);
CREATE INDEX users_status_idx ON accounts.users (status, created_at, id);

-- Contact types -------------------------------------------------------------

CREATE TABLE accounts.contact_types (
    id                 uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    code               text        NOT NULL
        CONSTRAINT contact_types_code_format CHECK (code ~ '^[a-z][a-z0-9_]{1,31}$'),
    name               text        NOT NULL
        CONSTRAINT contact_types_name_length CHECK (char_length(name) BETWEEN 1 AND 100),
    validation_pattern text
        CONSTRAINT contact_types_pattern_length CHECK (char_length(validation_pattern) <= 500),
    is_unique          boolean     NOT NULL DEFAULT false,
    is_active          boolean     NOT NULL DEFAULT true,
    version            integer     NOT NULL DEFAULT 1,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT contact_types_code_key UNIQUE (code),
    -- Target of user_contacts' composite foreign key that mirrors is_unique.
    CONSTRAINT contact_types_id_is_unique_key UNIQUE (id, is_unique)
);

INSERT INTO accounts.contact_types (code, name, validation_pattern, is_unique) VALUES
    ('email', 'Email', '^[^@\s]+@[^@\s]+\.[^@\s]+$', true),
    ('phone', 'Phone', '^\+[1-9][0-9]{6,14}$', true);

-- User contacts -------------------------------------------------------------

CREATE TABLE accounts.user_contacts (
    id              uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id         uuid        NOT NULL REFERENCES accounts.users (id) ON DELETE CASCADE,
    contact_type_id uuid        NOT NULL,
    -- A copy of the type's is_unique, kept equal by the foreign key's cascade, so
    -- that a partial unique index can enforce "one owner per active value".
    type_is_unique  boolean     NOT NULL,
    value           text        NOT NULL
        CONSTRAINT user_contacts_value_length CHECK (char_length(value) BETWEEN 1 AND 320),
    is_primary      boolean     NOT NULL DEFAULT false,
    is_verified     boolean     NOT NULL DEFAULT false,
    is_active       boolean     NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    deactivated_at  timestamptz,
    CONSTRAINT user_contacts_type_fkey FOREIGN KEY (contact_type_id, type_is_unique)
        REFERENCES accounts.contact_types (id, is_unique) ON UPDATE CASCADE,
    CONSTRAINT user_contacts_primary_is_active CHECK (NOT is_primary OR is_active),
    CONSTRAINT user_contacts_deactivated_at CHECK (is_active = (deactivated_at IS NULL))
);

-- At most one active primary per user and type (a primary is always active).
CREATE UNIQUE INDEX user_contacts_one_primary_key
    ON accounts.user_contacts (user_id, contact_type_id) WHERE is_primary;
-- A user holds an active value once.
CREATE UNIQUE INDEX user_contacts_user_value_key
    ON accounts.user_contacts (user_id, contact_type_id, value) WHERE is_active;
-- An active value of a unique type (email, phone) belongs to one user only.
CREATE UNIQUE INDEX user_contacts_unique_value_key
    ON accounts.user_contacts (contact_type_id, value) WHERE is_active AND type_is_unique;
CREATE INDEX user_contacts_user_idx ON accounts.user_contacts (user_id, created_at, id);

CREATE FUNCTION accounts.count_active_contacts() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.is_active THEN
        UPDATE accounts.users SET active_contacts = active_contacts - 1 WHERE id = OLD.user_id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.is_active THEN
        UPDATE accounts.users SET active_contacts = active_contacts + 1 WHERE id = NEW.user_id;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER user_contacts_count_active
    AFTER INSERT OR DELETE OR UPDATE OF is_active, user_id ON accounts.user_contacts
    FOR EACH ROW EXECUTE FUNCTION accounts.count_active_contacts();

-- Groups and memberships ----------------------------------------------------

CREATE TABLE accounts.user_groups (
    id          uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    slug        text        NOT NULL
        CONSTRAINT user_groups_slug_format CHECK (slug ~ '^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$'),
    name        text        NOT NULL
        CONSTRAINT user_groups_name_length CHECK (char_length(name) BETWEEN 1 AND 100),
    description text        NOT NULL DEFAULT ''
        CONSTRAINT user_groups_description_length CHECK (char_length(description) <= 1000),
    version     integer     NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT user_groups_slug_key UNIQUE (slug)
);
CREATE INDEX user_groups_created_at_idx ON accounts.user_groups (created_at, id);

CREATE TABLE accounts.user_group_memberships (
    user_id   uuid        NOT NULL REFERENCES accounts.users (id) ON DELETE CASCADE,
    group_id  uuid        NOT NULL REFERENCES accounts.user_groups (id) ON DELETE CASCADE,
    role      text        NOT NULL DEFAULT 'member'
        CONSTRAINT memberships_role_valid CHECK (role IN ('member', 'manager', 'owner')),
    joined_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    added_by  uuid        REFERENCES accounts.users (id) ON DELETE SET NULL,
    CONSTRAINT memberships_pkey PRIMARY KEY (user_id, group_id)
);
-- Per-group keyset pages of members, oldest first; new members append at the end.
CREATE INDEX memberships_group_idx ON accounts.user_group_memberships (group_id, joined_at, user_id);

-- Credentials and sessions (PRODUCT §6) -------------------------------------

CREATE TABLE accounts.credentials (
    user_id             uuid        PRIMARY KEY REFERENCES accounts.users (id) ON DELETE CASCADE,
    password_hash       text        NOT NULL,
    password_changed_at timestamptz NOT NULL DEFAULT now(),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE accounts.refresh_tokens (
    id          uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    -- All tokens rotated from one login share a family; reuse revokes the family.
    family_id   uuid        NOT NULL,
    user_id     uuid        NOT NULL REFERENCES accounts.users (id) ON DELETE CASCADE,
    token_hash  bytea       NOT NULL CONSTRAINT refresh_tokens_hash_key UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    revoked_at  timestamptz,
    replaced_by uuid        REFERENCES accounts.refresh_tokens (id) ON DELETE SET NULL
);
CREATE INDEX refresh_tokens_family_idx ON accounts.refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user_idx ON accounts.refresh_tokens (user_id);

-- Outbox (PRODUCT §5) -------------------------------------------------------

-- The last sequence number given to each aggregate; the upsert's row lock orders
-- concurrent writers of one aggregate.
CREATE TABLE accounts.aggregate_sequences (
    aggregate_type text   NOT NULL,
    aggregate_id   uuid   NOT NULL,
    last_sequence  bigint NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id)
);

CREATE TABLE accounts.outbox (
    position        bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id        uuid        NOT NULL DEFAULT gen_random_uuid() CONSTRAINT outbox_event_id_key UNIQUE,
    event_type      text        NOT NULL,
    aggregate_type  text        NOT NULL
        CONSTRAINT outbox_aggregate_type_valid CHECK (aggregate_type IN ('user', 'contact_type', 'group')),
    aggregate_id    uuid        NOT NULL,
    sequence        bigint      NOT NULL,
    payload         jsonb       NOT NULL,
    actor_id        uuid,
    created_at      timestamptz NOT NULL DEFAULT now(),
    published_at    timestamptz,
    attempts        integer     NOT NULL DEFAULT 0,
    last_error      text,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT outbox_aggregate_sequence_key UNIQUE (aggregate_type, aggregate_id, sequence)
);
CREATE INDEX outbox_pending_idx ON accounts.outbox (position) WHERE published_at IS NULL;
CREATE INDEX outbox_published_idx ON accounts.outbox (published_at) WHERE published_at IS NOT NULL;

-- Records one event in the outbox, in the caller's transaction. Contact events
-- belong to their user's aggregate and membership events to their group's, so
-- that one sequence orders everything a consumer sees of that aggregate.
CREATE FUNCTION accounts.emit_event(
    p_event_type     text,
    p_aggregate_type text,
    p_aggregate_id   uuid,
    p_payload        jsonb,
    p_actor_id       uuid
) RETURNS accounts.outbox
LANGUAGE plpgsql AS $$
DECLARE
    v_sequence bigint;
    v_row      accounts.outbox;
BEGIN
    INSERT INTO accounts.aggregate_sequences AS s (aggregate_type, aggregate_id, last_sequence)
    VALUES (p_aggregate_type, p_aggregate_id, 1)
    ON CONFLICT (aggregate_type, aggregate_id)
        DO UPDATE SET last_sequence = s.last_sequence + 1
    RETURNING last_sequence INTO v_sequence;

    INSERT INTO accounts.outbox (event_type, aggregate_type, aggregate_id, sequence, payload, actor_id)
    VALUES (p_event_type, p_aggregate_type, p_aggregate_id, v_sequence, p_payload, p_actor_id)
    RETURNING * INTO v_row;

    -- Delivered at commit only, and once per transaction however many events.
    PERFORM pg_notify('accounts_outbox', '');
    RETURN v_row;
END $$;

-- Raises one of the service's typed errors (see accounts_gql/core/errors.py).
-- p_field names the offending input field; p_detail carries machine-readable
-- context (e.g. the current version) as JSON.
CREATE FUNCTION accounts.raise_error(
    p_sqlstate text,
    p_message  text,
    p_field    text DEFAULT NULL,
    p_detail   jsonb DEFAULT NULL
) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING
        ERRCODE = p_sqlstate,
        MESSAGE = p_message,
        COLUMN  = coalesce(p_field, ''),
        DETAIL  = coalesce(p_detail, '{}'::jsonb)::text;
END $$;
