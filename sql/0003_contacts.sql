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
