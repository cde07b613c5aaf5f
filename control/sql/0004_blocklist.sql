-- SPDX-License-Identifier: BSD-3-Clause
--
-- 0004_blocklist.sql - the sender filter's blocklist (issue 7).
--
-- One row per blocked prefix (IPv4 or IPv6 CIDR, host bits clear), from an
-- administrator (REST API, mxgatectl block) or from the IP profiler
-- (mxgate-control, control/ctl_prof.c). Every change inserts one row per
-- transaction into blocklist_versions and NOTIFYs channel mxg_blocklist
-- with the new version (the same scheme as policy_versions / mxg_policy):
-- mxgate-control re-reads mxg_blocklist_snapshot() and pushes it to every
-- dataplane (frame MXG_CHAN_BLOCKLIST, common/mxg_chan.h).
--
-- Expiry: expires_at NULL = never. Expired rows are not in the snapshot
-- and are deleted by mxgate-control shortly after their deadline (a timer
-- on the earliest one, and hourly with mxg_maintain(): mxg_blocklist_purge()).
--
-- The IP profiler's settings live in the settings table (values in
-- seconds or counts; 0 = that counter is off). A change NOTIFYs
-- mxg_settings so mxgate-control reloads them at once.

CREATE TABLE blocklist_versions (
	version bigserial PRIMARY KEY,
	txid bigint NOT NULL UNIQUE,
	changed_at timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION mxg_blocklist_bump() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	v bigint;
BEGIN
	INSERT INTO blocklist_versions (txid) VALUES (txid_current())
		ON CONFLICT (txid) DO NOTHING RETURNING version INTO v;
	IF v IS NOT NULL THEN
		PERFORM pg_notify('mxg_blocklist', v::text);
	END IF;
	RETURN NULL;
END $$;

CREATE TABLE blocklist (
	prefix cidr PRIMARY KEY,
	reason text NOT NULL DEFAULT '' CHECK (length(reason) <= 200),
	source text NOT NULL DEFAULT 'admin' CHECK (source IN ('admin', 'profiler')),
	created_at timestamptz NOT NULL DEFAULT now(),
	expires_at timestamptz
);
CREATE INDEX blocklist_expires ON blocklist (expires_at) WHERE expires_at IS NOT NULL;

CREATE TRIGGER blocklist_bump AFTER INSERT OR UPDATE OR DELETE ON blocklist
	FOR EACH ROW EXECUTE FUNCTION mxg_blocklist_bump();

-- One entry as the API shows it.
CREATE FUNCTION mxg_blocklist_json(b blocklist) RETURNS jsonb LANGUAGE sql STABLE AS $$
	SELECT jsonb_build_object(
		'prefix', b.prefix::text,
		'reason', b.reason,
		'source', b.source,
		'created_at', b.created_at,
		'expires_at', b.expires_at,
		'expires_in', CASE WHEN b.expires_at IS NULL THEN NULL
			ELSE greatest(0, ceil(extract(epoch FROM b.expires_at - now())))::bigint END)
$$;

-- The live list as the dataplanes get it: {"version", "entries": [{"prefix",
-- "reason", "expires_at" (epoch seconds or null)}]}.
CREATE FUNCTION mxg_blocklist_snapshot() RETURNS jsonb LANGUAGE sql STABLE AS $$
	SELECT jsonb_build_object(
		'version', COALESCE((SELECT max(version) FROM blocklist_versions), 0),
		'entries', COALESCE((SELECT jsonb_agg(jsonb_build_object(
				'prefix', b.prefix::text,
				'reason', b.reason,
				'source', b.source,
				'expires_at', floor(extract(epoch FROM b.expires_at))::bigint)
				ORDER BY b.prefix)
			FROM blocklist b WHERE b.expires_at IS NULL OR b.expires_at > now()), '[]'))
$$;

-- Adds or replaces one entry. |expires| is an absolute time as text
-- (ISO 8601 or epoch seconds) or NULL; |expires_in| seconds or NULL. The
-- errors name the field (SQLSTATE 22023, mapped to 400 by the API).
CREATE FUNCTION mxg_blocklist_put(p cidr, r text, src text, expires text, expires_in bigint)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
	t timestamptz;
	row blocklist;
BEGIN
	IF expires IS NOT NULL THEN
		BEGIN
			IF expires ~ '^[0-9]+(\.[0-9]+)?$' THEN
				t := to_timestamp(expires::float8);
			ELSE
				t := expires::timestamptz;
			END IF;
		EXCEPTION WHEN others THEN
			RAISE EXCEPTION 'expires_at: not a time (epoch seconds or ISO 8601)'
				USING ERRCODE = '22023';
		END;
		IF t <= now() THEN
			RAISE EXCEPTION 'expires_at: in the past' USING ERRCODE = '22023';
		END IF;
	ELSIF expires_in IS NOT NULL THEN
		t := now() + make_interval(secs => expires_in);
	END IF;
	INSERT INTO blocklist (prefix, reason, source, expires_at)
		VALUES (p, COALESCE(r, ''), src, t)
		ON CONFLICT (prefix) DO UPDATE SET reason = EXCLUDED.reason,
			source = EXCLUDED.source, created_at = now(), expires_at = EXCLUDED.expires_at
		RETURNING * INTO row;
	RETURN mxg_blocklist_json(row);
END $$;

-- Deletes expired entries; returns how many.
CREATE FUNCTION mxg_blocklist_purge() RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
	n integer;
BEGIN
	DELETE FROM blocklist WHERE expires_at <= now();
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END $$;

CREATE FUNCTION mxg_settings_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_notify('mxg_settings', '');
	RETURN NULL;
END $$;

CREATE TRIGGER settings_notify AFTER INSERT OR UPDATE OR DELETE ON settings
	FOR EACH STATEMENT EXECUTE FUNCTION mxg_settings_notify();

-- The IP profiler (control/ctl_prof.c): per source address over a sliding
-- window, a threshold reached blocks the address for profiler_block_s.
INSERT INTO settings (key, value) VALUES
	('profiler_window_s', '600'),
	('profiler_virus_threshold', '10'),
	('profiler_dha_threshold', '20'),
	('profiler_bounce_threshold', '50'),
	('profiler_block_s', '3600'),
	('profiler_max_ips', '100000')
	ON CONFLICT (key) DO NOTHING;
