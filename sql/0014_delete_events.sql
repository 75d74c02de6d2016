-- Deletion events that consumers can use (issue 15, part 5).
--
-- A deletion event carries the state before deletion, and every row a deletion
-- removes by cascade that consumers know of emits its own event first, in the
-- same transaction, in this order:
--   delete_user:  contact.deactivated for each active contact (user aggregate),
--                 membership.removed for each membership (each group's aggregate),
--                 then user.deleted with the user's last state;
--   delete_group: membership.removed for each member, then group.deleted.
-- The cascaded events carry "reason": "user_deleted" / "group_deleted", so a
-- consumer can tell them from a user's own change. Inactive contacts emitted
-- their contact.deactivated when they were deactivated and emit nothing more.
--
-- Erasure: the new events carry personal data (name, profile, contact values)
-- so that consumers can erase their copies; once the broker has taken them, the
-- outbox keeps them redacted, like the erased user's earlier published rows
-- (outbox_mark_published below).

CREATE OR REPLACE FUNCTION accounts.delete_user(
    p_id uuid, p_expected_version integer, p_actor_id uuid
) RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
    v_user       accounts.users;
    v_contact    accounts.user_contacts;
    v_membership accounts.user_group_memberships;
BEGIN
    v_user := accounts.user_for_update(p_id, p_expected_version);
    -- Waits for a relay that holds some of the user's rows (claimed, being
    -- published): once it has marked them, the redaction below sees them as
    -- published (each statement reads a fresh snapshot). In sequence order, the
    -- order the relay claims them in, so that the two cannot deadlock.
    PERFORM 1 FROM (
        SELECT 1 FROM accounts.outbox
        WHERE aggregate_type = 'user' AND aggregate_id = p_id AND published_at IS NULL
        ORDER BY sequence
        FOR UPDATE) AS claimed;
    -- Active contacts are deactivated first, so each event shows the state a
    -- deactivation gives (is_active false, deactivated_at set), then erased.
    FOR v_contact IN
        WITH deactivated AS (
            UPDATE accounts.user_contacts
            SET is_active = false, is_primary = false, deactivated_at = now(), updated_at = now()
            WHERE user_id = p_id AND is_active
            RETURNING *)
        SELECT * FROM deactivated ORDER BY created_at, id
    LOOP
        PERFORM accounts.emit_event('contact.deactivated', 'user', p_id,
            jsonb_build_object('contact', accounts.contact_state(v_contact),
                               'reason', 'user_deleted'),
            p_actor_id);
    END LOOP;
    FOR v_membership IN
        WITH removed AS (
            DELETE FROM accounts.user_group_memberships WHERE user_id = p_id RETURNING *)
        SELECT * FROM removed ORDER BY joined_at, group_id
    LOOP
        PERFORM accounts.emit_event('membership.removed', 'group', v_membership.group_id,
            jsonb_build_object('membership', accounts.membership_state(v_membership),
                               'reason', 'user_deleted'),
            p_actor_id);
    END LOOP;
    DELETE FROM accounts.users WHERE id = p_id;
    UPDATE accounts.outbox SET payload = '{"redacted": true}'
    WHERE aggregate_type = 'user' AND aggregate_id = p_id AND published_at IS NOT NULL;
    PERFORM accounts.emit_event('user.deleted', 'user', p_id,
        jsonb_build_object('user', accounts.user_state(v_user)), p_actor_id);
    RETURN p_id;
END $$;

CREATE OR REPLACE FUNCTION accounts.delete_group(
    p_id uuid, p_expected_version integer, p_actor_id uuid
) RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
    v_group      accounts.user_groups;
    v_membership accounts.user_group_memberships;
    v_members    bigint := 0;
BEGIN
    v_group := accounts.group_for_update(p_id, p_expected_version, 'id');
    FOR v_membership IN
        WITH removed AS (
            DELETE FROM accounts.user_group_memberships WHERE group_id = p_id RETURNING *)
        SELECT * FROM removed ORDER BY joined_at, user_id
    LOOP
        v_members := v_members + 1;
        PERFORM accounts.emit_event('membership.removed', 'group', p_id,
            jsonb_build_object('membership', accounts.membership_state(v_membership),
                               'reason', 'group_deleted'),
            p_actor_id);
    END LOOP;
    DELETE FROM accounts.user_groups WHERE id = p_id;
    PERFORM accounts.emit_event('group.deleted', 'group', p_id,
        jsonb_build_object('group', accounts.group_state(v_group), 'member_count', v_members),
        p_actor_id);
    RETURN p_id;
END $$;

-- Marks rows published (after the broker confirmed them); returns how many. A
-- row of a user who no longer exists (erased meanwhile, or the erasure's own
-- events) is kept redacted from now on.
CREATE OR REPLACE FUNCTION accounts.outbox_mark_published(p_positions bigint[])
RETURNS integer
LANGUAGE sql AS $$
    WITH marked AS (
        UPDATE accounts.outbox AS o
        SET published_at = clock_timestamp(), attempts = o.attempts + 1,
            payload = CASE
                WHEN o.aggregate_type = 'user'
                 AND NOT EXISTS (SELECT 1 FROM accounts.users AS u WHERE u.id = o.aggregate_id)
                THEN '{"redacted": true}'::jsonb
                ELSE o.payload END
        WHERE o.position = ANY (p_positions) AND o.published_at IS NULL
        RETURNING 1)
    SELECT count(*)::integer FROM marked
$$;
