-- 0004_security.sql - login throttling, shared by every server process.
--
-- Failed logins are remembered for 15 minutes per account and per client
-- address. Past 5 failures for an account, or 30 from one address, further
-- attempts are refused (429) before any password is hashed, until the
-- window has moved on. A successful login clears its account's failures.

CREATE TABLE login_failures (
    key  text NOT NULL,          -- 'account:<email>' or 'address:<ip>'
    at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_failures_key ON login_failures (key, at);

-- Seconds to wait before another attempt (0: go ahead).
CREATE FUNCTION gen_login_wait(p_email text, p_addr text) RETURNS int LANGUAGE sql STABLE AS $$
    SELECT greatest(
        coalesce((SELECT CASE WHEN count(*) >= 5 THEN
                    ceil(extract(epoch FROM min(at) + interval '15 minutes' - now()))::int END
                  FROM (SELECT at FROM login_failures WHERE key = 'account:' || lower(p_email)
                          AND at > now() - interval '15 minutes' ORDER BY at DESC LIMIT 5) f), 0),
        coalesce((SELECT CASE WHEN count(*) >= 30 THEN
                    ceil(extract(epoch FROM min(at) + interval '15 minutes' - now()))::int END
                  FROM (SELECT at FROM login_failures WHERE key = 'address:' || p_addr
                          AND at > now() - interval '15 minutes' ORDER BY at DESC LIMIT 30) f), 0),
        0)
$$;

CREATE FUNCTION gen_login_failed(p_email text, p_addr text) RETURNS void LANGUAGE sql AS $$
    DELETE FROM login_failures WHERE at < now() - interval '1 hour';
    INSERT INTO login_failures (key) VALUES ('account:' || lower(p_email)), ('address:' || p_addr);
$$;
