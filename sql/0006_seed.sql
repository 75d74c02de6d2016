-- Demo data for development and the benchmarks (`accounts-gql seed`).
-- Set-based so that 20,000 users take seconds. Seeding is a development tool,
-- not a domain change: it records no events.

CREATE FUNCTION accounts.seed_demo(p_users integer, p_groups integer DEFAULT NULL)
RETURNS TABLE (users bigint, contacts bigint, groups bigint, memberships bigint)
LANGUAGE plpgsql AS $$
DECLARE
    v_batch   text := substr(md5(random()::text || clock_timestamp()::text), 1, 6);
    v_groups  integer := coalesce(p_groups, greatest(p_users / 100, 1));
    v_first   text[] := ARRAY['Ada', 'Alan', 'Grace', 'Linus', 'Barbara', 'Edsger', 'Donald',
                              'Frances', 'Ken', 'Radia', 'Tim', 'Margaret', 'Dennis', 'Sophie'];
    v_last    text[] := ARRAY['Lovelace', 'Turing', 'Hopper', 'Torvalds', 'Liskov', 'Dijkstra',
                              'Knuth', 'Allen', 'Thompson', 'Perlman', 'Berners-Lee', 'Hamilton',
                              'Ritchie', 'Wilson'];
    v_email   uuid := (SELECT id FROM accounts.contact_types WHERE code = 'email');
    v_phone   uuid := (SELECT id FROM accounts.contact_types WHERE code = 'phone');
    -- Keeps the phone numbers of one seeding apart from another's.
    v_prefix  text := (10 + ('x' || v_batch)::bit(24)::integer % 90)::text;
BEGIN
    IF p_users IS NULL OR p_users < 1 OR p_users > 1000000 THEN
        PERFORM accounts.raise_error('UA005', 'users must be between 1 and 1000000', 'users');
    END IF;

    CREATE TEMP TABLE seed_users ON COMMIT DROP AS
    WITH inserted AS (
        INSERT INTO accounts.users (username, display_name, profile, created_at, updated_at)
        SELECT format('%s.%s%s', lower(v_first[1 + i % 14]), v_batch, i),
               v_first[1 + i % 14] || ' ' || v_last[1 + (i / 14) % 14],
               jsonb_build_object('bio', 'Demo user ' || i, 'locale', (ARRAY['en', 'de', 'fr'])[1 + i % 3]),
               now() - make_interval(secs => p_users - i),
               now() - make_interval(secs => p_users - i)
        FROM generate_series(1, p_users) AS i
        RETURNING id, username
    )
    SELECT id, username, row_number() OVER (ORDER BY username) AS n FROM inserted;

    -- Every user a primary email, most a phone, many a second email: ~3 each.
    INSERT INTO accounts.user_contacts (user_id, contact_type_id, type_is_unique, value, is_primary, is_verified)
    SELECT id, v_email, true, lower(username) || '@example.com', true, n % 3 <> 0 FROM seed_users
    UNION ALL
    SELECT id, v_phone, true, '+49' || v_prefix || lpad(n::text, 8, '0'), true, false
    FROM seed_users WHERE n % 10 <> 0
    UNION ALL
    SELECT id, v_email, true, lower(username) || '@work.example.org', false, false
    FROM seed_users WHERE n % 3 <> 0
    UNION ALL
    SELECT id, v_email, true, lower(username) || '@mail.example.net', false, false
    FROM seed_users WHERE n % 4 = 0
    -- A phone number another seeding already gave out is skipped, not an error.
    ON CONFLICT DO NOTHING;

    CREATE TEMP TABLE seed_groups ON COMMIT DROP AS
    WITH inserted AS (
        INSERT INTO accounts.user_groups (slug, name, description)
        SELECT format('team-%s-%s', v_batch, g), 'Team ' || g, 'Demo group ' || g
        FROM generate_series(1, v_groups) AS g
        RETURNING id
    )
    SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM inserted;

    -- Two groups per user; the first member of each group owns it.
    INSERT INTO accounts.user_group_memberships (user_id, group_id, role, joined_at)
    SELECT u.id, g.id,
           CASE WHEN u.n <= v_groups THEN 'owner' WHEN u.n % 17 = 0 THEN 'manager' ELSE 'member' END,
           now() - make_interval(secs => p_users - u.n::integer)
    FROM seed_users u
    JOIN seed_groups g ON g.n = (u.n - 1) % v_groups
    UNION ALL
    SELECT u.id, g.id, 'member', now() - make_interval(secs => p_users - u.n::integer)
    FROM seed_users u
    JOIN seed_groups g ON g.n = (u.n * 7 + 3) % v_groups
    WHERE v_groups > 1 AND (u.n * 7 + 3) % v_groups <> (u.n - 1) % v_groups;

    RETURN QUERY SELECT
        (SELECT count(*) FROM seed_users),
        (SELECT count(*) FROM accounts.user_contacts c JOIN seed_users u ON u.id = c.user_id),
        (SELECT count(*) FROM seed_groups),
        (SELECT count(*) FROM accounts.user_group_memberships m JOIN seed_users u ON u.id = m.user_id);
END $$;
