-- Messenger contact types (the README promises messengers; 0001 seeded only
-- email and phone): telegram by username, whatsapp and signal by phone number.
-- Each is created through create_contact_type, so that it is validated and
-- consumers get its contact_type.created event; a code that already exists
-- (an admin made it) is left as it is.

-- 0003's normalisation, plus the messengers: a Telegram username lower-cased
-- with one leading @ (a t.me link becomes the @name), WhatsApp and Signal
-- numbers as phone numbers (E.164).
CREATE OR REPLACE FUNCTION accounts.normalize_contact_value(p_code text, p_value text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT AS $$
DECLARE
    v_value text := regexp_replace(p_value, '^[[:space:]]+|[[:space:]]+$', '', 'g');
BEGIN
    IF p_code = 'email' THEN
        RETURN lower(v_value);
    ELSIF p_code IN ('phone', 'whatsapp', 'signal') THEN
        v_value := regexp_replace(v_value, '[[:space:]().-]', '', 'g');
        IF v_value LIKE '00%' THEN
            v_value := '+' || substr(v_value, 3);
        END IF;
        IF v_value <> '' AND v_value !~ '^\+[0-9]+$' THEN
            PERFORM accounts.raise_error('UA005',
                'a phone number must be international: + (or 00) and digits', 'value');
        END IF;
    ELSIF p_code = 'telegram' THEN
        v_value := lower(regexp_replace(v_value, '^(https?://)?(www\.)?t\.me/', '', 'i'));
        IF v_value <> '' THEN
            v_value := '@' || ltrim(v_value, '@');
        END IF;
    END IF;
    RETURN v_value;
END $$;

SELECT accounts.create_contact_type(code, name, pattern, true, NULL)
FROM (VALUES
    -- 5 to 32 letters, digits and underscores, a letter first, no underscore last.
    ('telegram', 'Telegram', '^@[a-z][a-z0-9_]{3,30}[a-z0-9]$'),
    ('whatsapp', 'WhatsApp', '^\+[1-9][0-9]{6,14}$'),
    ('signal', 'Signal', '^\+[1-9][0-9]{6,14}$')
) AS messengers (code, name, pattern)
WHERE NOT EXISTS (SELECT FROM accounts.contact_types t WHERE t.code = messengers.code)
ORDER BY code;
