-- SPDX-License-Identifier: BSD-3-Clause
--
-- 0005_dnsbl.sql - email reputation: DNSBL zones (issue 7).
--
-- One row per zone mxgate-control asks about a connecting client
-- (control/ctl_dnsbl.c): reversed octets (IPv4) or nibbles (IPv6) under
-- |zone|, A records. |kind| follows IMSS's two databases (standard: the
-- known spam sources; advanced: the dynamic one) and is reported with
-- every hit. |action| decides what a listed client gets: reject (554
-- 5.7.1), tempfail (450 4.7.1) or score (served; the hit goes into the
-- tracking record's verdicts). |return_codes|: the answers that mean
-- "listed" ('{127.0.0.2,127.0.0.4}'); empty = any 127.0.0.0/8 answer.
-- Zones are asked in |position| order; the first listed reject/tempfail
-- zone decides.
--
-- Settings (table settings, JSON values):
--   dnsbl_timeout_ms      how long a lookup may take [1500]
--   dnsbl_resolver        "" = /etc/resolv.conf, else "host:port"
--   dnsbl_default_action  when a zone did not answer in time: accept,
--                         reject or tempfail [accept]
-- A change of either NOTIFYs mxg_settings: mxgate-control reloads and
-- forgets its cached answers.

CREATE TABLE dnsbl_zones (
	name text PRIMARY KEY,
	zone text NOT NULL,
	kind text NOT NULL DEFAULT 'standard' CHECK (kind IN ('standard', 'advanced')),
	enabled boolean NOT NULL DEFAULT true,
	action text NOT NULL DEFAULT 'reject' CHECK (action IN ('reject', 'tempfail', 'score')),
	return_codes text[] NOT NULL DEFAULT '{}',
	score integer NOT NULL DEFAULT 0,
	position integer NOT NULL DEFAULT 0
);

CREATE TRIGGER dnsbl_zones_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON dnsbl_zones
	FOR EACH STATEMENT EXECUTE FUNCTION mxg_settings_notify();

INSERT INTO settings (key, value) VALUES
	('dnsbl_timeout_ms', '1500'),
	('dnsbl_resolver', '""'),
	('dnsbl_default_action', '"accept"')
	ON CONFLICT (key) DO NOTHING;

CREATE FUNCTION mxg_dnsbl_json() RETURNS json LANGUAGE sql STABLE AS $$
	SELECT json_build_object(
		'zones', COALESCE((SELECT json_agg(json_build_object('name', z.name,
			'zone', z.zone, 'kind', z.kind, 'enabled', z.enabled,
			'action', z.action, 'return_codes', to_json(z.return_codes),
			'score', z.score, 'position', z.position)
			ORDER BY z.position, z.name) FROM dnsbl_zones z), '[]'),
		'timeout_ms', COALESCE((SELECT value FROM settings
			WHERE key = 'dnsbl_timeout_ms'), '1500'),
		'resolver', COALESCE((SELECT value FROM settings
			WHERE key = 'dnsbl_resolver'), '""'),
		'default_action', COALESCE((SELECT value FROM settings
			WHERE key = 'dnsbl_default_action'), '"accept"'))
$$;

-- Replaces the whole zone list with |zones| (an array of objects with the
-- columns' names; validated by the caller) and, when present, the settings
-- in |sets| ({"timeout_ms", "resolver", "default_action"}). One statement,
-- one transaction. Returns mxg_dnsbl_json().
CREATE FUNCTION mxg_dnsbl_put(zones jsonb, sets jsonb) RETURNS json LANGUAGE plpgsql AS $$
DECLARE
	k text;
BEGIN
	DELETE FROM dnsbl_zones;
	INSERT INTO dnsbl_zones (name, zone, kind, enabled, action, return_codes, score, position)
	SELECT e->>'name', e->>'zone', COALESCE(e->>'kind', 'standard'),
		COALESCE((e->>'enabled')::boolean, true), COALESCE(e->>'action', 'reject'),
		COALESCE(ARRAY(SELECT jsonb_array_elements_text(e->'return_codes')), '{}'),
		COALESCE((e->>'score')::integer, 0),
		COALESCE((e->>'position')::integer, (o - 1)::integer)
	FROM jsonb_array_elements(zones) WITH ORDINALITY AS t(e, o);
	FOREACH k IN ARRAY ARRAY['timeout_ms', 'resolver', 'default_action'] LOOP
		IF sets ? k THEN
			INSERT INTO settings (key, value) VALUES ('dnsbl_' || k, sets->k)
				ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value;
		END IF;
	END LOOP;
	RETURN mxg_dnsbl_json();
END $$;
