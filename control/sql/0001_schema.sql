-- SPDX-License-Identifier: BSD-3-Clause
--
-- 0001_schema.sql - the first schema of mxgate-control.
--
-- Applied once, inside the migration transaction (ctl_boot.c), which also
-- records it in schema_migrations. Rules arrive here already validated by
-- control/ctl_valid.c; the CHECK constraints below are a second line only.
--
-- Policy versions: every change to rules, lists or local domains inserts one
-- row per transaction into policy_versions (trigger mxg_policy_bump) and
-- NOTIFYs channel mxg_policy with the new version, so every node LISTENing
-- recompiles. The version is what the dataplane reports it runs.

CREATE TABLE settings (
	key text PRIMARY KEY,
	value jsonb NOT NULL
);
INSERT INTO settings (key, value) VALUES
	('log_retention_days', '30'),
	('quarantine_retention_days', '30'),
	('log_partitions_ahead_days', '7');

-- one row per transaction that changed the policy
CREATE TABLE policy_versions (
	version bigserial PRIMARY KEY,
	txid bigint NOT NULL UNIQUE,
	changed_at timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION mxg_policy_bump() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	v bigint;
BEGIN
	INSERT INTO policy_versions (txid) VALUES (txid_current())
		ON CONFLICT (txid) DO NOTHING RETURNING version INTO v;
	IF v IS NOT NULL THEN
		PERFORM pg_notify('mxg_policy', v::text);
	END IF;
	RETURN NULL;
END $$;

CREATE TABLE policy_rules (
	id bigserial PRIMARY KEY,
	name text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 128),
	description text NOT NULL DEFAULT '',
	position integer NOT NULL CHECK (position >= 0),
	enabled boolean NOT NULL DEFAULT true,
	scope text NOT NULL CHECK (scope IN ('inbound', 'outbound', 'both')),
	match text NOT NULL DEFAULT 'all' CHECK (match IN ('all', 'any')),
	conditions jsonb NOT NULL CHECK (jsonb_typeof(conditions) = 'array'),
	exceptions jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(exceptions) = 'array'),
	actions jsonb NOT NULL CHECK (jsonb_typeof(actions) = 'array'),
	stop boolean NOT NULL DEFAULT false,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX policy_rules_order ON policy_rules (position, id);
CREATE INDEX policy_rules_scope ON policy_rules (scope) WHERE enabled;
-- "which rules use list X / condition type Y"
CREATE INDEX policy_rules_conditions ON policy_rules USING gin (conditions jsonb_path_ops);

CREATE TABLE address_lists (
	id bigserial PRIMARY KEY,
	name text NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9_-]{1,64}$'),
	kind text NOT NULL CHECK (kind IN ('approved_senders', 'blocked_senders',
					  'addresses', 'domains')),
	description text NOT NULL DEFAULT '',
	updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE list_entries (
	list_id bigint NOT NULL REFERENCES address_lists (id) ON DELETE CASCADE,
	value text NOT NULL CHECK (length(value) BETWEEN 1 AND 320),
	added_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (list_id, value)
);
CREATE INDEX list_entries_value ON list_entries (lower(value));

CREATE TABLE local_domains (
	domain text PRIMARY KEY CHECK (length(domain) BETWEEN 1 AND 253)
);

CREATE TRIGGER policy_rules_bump AFTER INSERT OR UPDATE OR DELETE ON policy_rules
	FOR EACH ROW EXECUTE FUNCTION mxg_policy_bump();
CREATE TRIGGER address_lists_bump AFTER INSERT OR UPDATE OR DELETE ON address_lists
	FOR EACH ROW EXECUTE FUNCTION mxg_policy_bump();
CREATE TRIGGER list_entries_bump AFTER INSERT OR UPDATE OR DELETE ON list_entries
	FOR EACH ROW EXECUTE FUNCTION mxg_policy_bump();
CREATE TRIGGER local_domains_bump AFTER INSERT OR UPDATE OR DELETE ON local_domains
	FOR EACH ROW EXECUTE FUNCTION mxg_policy_bump();

-- Quarantine: the message bytes are committed before the client gets 250.
CREATE TABLE quarantine (
	id bigserial PRIMARY KEY,
	received_at timestamptz NOT NULL DEFAULT now(),
	expires_at timestamptz NOT NULL,
	node text NOT NULL DEFAULT '',
	area text NOT NULL DEFAULT 'default',
	reason text NOT NULL DEFAULT '',
	rule_id bigint,
	rule_name text,
	policy_version bigint,
	client_ip inet,
	sender text NOT NULL DEFAULT '',
	recipients text[] NOT NULL DEFAULT '{}',
	subject text NOT NULL DEFAULT '',
	message_id text NOT NULL DEFAULT '',
	size bigint NOT NULL DEFAULT 0,
	released_at timestamptz,
	message bytea NOT NULL
);
CREATE INDEX quarantine_received ON quarantine (received_at);
CREATE INDEX quarantine_expires ON quarantine (expires_at);
CREATE INDEX quarantine_sender ON quarantine (lower(sender));
CREATE INDEX quarantine_recipients ON quarantine USING gin (recipients);

-- Message tracking: one row per message and recipient, one partition per
-- day (UTC), created ahead and dropped after the retention period by
-- mxg_maintain().
CREATE TABLE message_log (
	ts timestamptz NOT NULL,
	msg_uuid uuid NOT NULL,
	node text NOT NULL DEFAULT '',
	direction text NOT NULL DEFAULT 'inbound',
	client_ip inet,
	helo text NOT NULL DEFAULT '',
	sender text NOT NULL DEFAULT '',
	recipient text NOT NULL DEFAULT '',
	subject text NOT NULL DEFAULT '',
	message_id text NOT NULL DEFAULT '',
	size bigint NOT NULL DEFAULT 0,
	verdict text NOT NULL DEFAULT 'clean',
	verdicts jsonb NOT NULL DEFAULT '{}',
	rule_id bigint,
	rule_name text,
	action text NOT NULL DEFAULT 'deliver',
	downstream_reply text NOT NULL DEFAULT '',
	timings jsonb NOT NULL DEFAULT '{}',
	policy_version bigint,
	quarantine_id bigint
) PARTITION BY RANGE (ts);
CREATE INDEX message_log_ts ON message_log (ts);
CREATE INDEX message_log_sender ON message_log (lower(sender), ts);
CREATE INDEX message_log_recipient ON message_log (lower(recipient), ts);
CREATE INDEX message_log_msgid ON message_log (message_id);
CREATE INDEX message_log_verdict ON message_log (verdict, ts);

-- Creates the daily partitions of message_log from yesterday to |ahead| days
-- ahead, drops those older than |retention| days, deletes expired
-- quarantine. Returns the number of partitions created. Idempotent; called
-- at start and hourly by every node (concurrent calls serialise on a lock).
CREATE FUNCTION mxg_maintain() RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
	ahead integer := (SELECT value::text::integer FROM settings
			  WHERE key = 'log_partitions_ahead_days');
	retention integer := (SELECT value::text::integer FROM settings
			      WHERE key = 'log_retention_days');
	d date;
	made integer := 0;
	part record;
BEGIN
	PERFORM pg_advisory_xact_lock(7302, 1);
	FOR i IN -1 .. ahead LOOP
		d := (now() AT TIME ZONE 'UTC')::date + i;
		IF to_regclass('message_log_p' || to_char(d, 'YYYYMMDD')) IS NULL THEN
			EXECUTE format('CREATE TABLE %I PARTITION OF message_log '
				       'FOR VALUES FROM (%L) TO (%L)',
				       'message_log_p' || to_char(d, 'YYYYMMDD'),
				       d::timestamp AT TIME ZONE 'UTC',
				       (d + 1)::timestamp AT TIME ZONE 'UTC');
			made := made + 1;
		END IF;
	END LOOP;
	FOR part IN SELECT c.relname FROM pg_inherits i
			JOIN pg_class c ON c.oid = i.inhrelid
			WHERE i.inhparent = 'message_log'::regclass
			  AND c.relname ~ '^message_log_p[0-9]{8}$'
			  AND to_date(substr(c.relname, 14), 'YYYYMMDD')
			      < (now() AT TIME ZONE 'UTC')::date - retention LOOP
		EXECUTE format('DROP TABLE %I', part.relname);
	END LOOP;
	DELETE FROM quarantine WHERE expires_at < now();
	RETURN made;
END $$;

-- Cluster membership: each node registers at start and heartbeats.
CREATE TABLE nodes (
	name text PRIMARY KEY,
	version text NOT NULL,
	api text NOT NULL DEFAULT '',
	started_at timestamptz NOT NULL DEFAULT now(),
	heartbeat_at timestamptz NOT NULL DEFAULT now(),
	policy_version bigint
);

-- Administrators. Only the SHA-256 of an API token is stored; the token
-- itself is shown once (state_dir/admin.token for the first account).
CREATE TABLE admin_accounts (
	id bigserial PRIMARY KEY,
	name text NOT NULL UNIQUE,
	role text NOT NULL DEFAULT 'admin' CHECK (role IN ('admin', 'operator', 'viewer')),
	token_sha256 bytea NOT NULL UNIQUE CHECK (length(token_sha256) = 32),
	enabled boolean NOT NULL DEFAULT true,
	created_at timestamptz NOT NULL DEFAULT now()
);

-- The whole policy as one document (GET /api/v1/config/export). Rules in
-- evaluation order without ids, lists and entries sorted: the same state
-- always exports to the same text.
CREATE FUNCTION mxg_config_export() RETURNS jsonb LANGUAGE sql STABLE AS $$
	SELECT jsonb_build_object(
		'format', 'mxgate-config',
		'version', 1,
		'policies', COALESCE((SELECT jsonb_agg(jsonb_build_object(
				'name', name, 'description', description,
				'enabled', enabled, 'position', position, 'scope', scope,
				'match', match, 'conditions', conditions,
				'exceptions', exceptions, 'actions', actions, 'stop', stop)
				ORDER BY position, id) FROM policy_rules), '[]'),
		'lists', COALESCE((SELECT jsonb_agg(jsonb_build_object(
				'name', l.name, 'kind', l.kind, 'description', l.description,
				'entries', COALESCE((SELECT jsonb_agg(e.value ORDER BY e.value)
					FROM list_entries e WHERE e.list_id = l.id), '[]'))
				ORDER BY l.name) FROM address_lists l), '[]'),
		'local_domains', COALESCE((SELECT jsonb_agg(domain ORDER BY domain)
				FROM local_domains), '[]'))
$$;

-- Replaces the whole policy with |doc| (already validated by ctl_valid.c).
-- One statement, hence one transaction and one policy version.
CREATE FUNCTION mxg_config_import(doc jsonb) RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
	DELETE FROM policy_rules;
	DELETE FROM address_lists;
	DELETE FROM local_domains;
	INSERT INTO address_lists (name, kind, description)
		SELECT l->>'name', l->>'kind', COALESCE(l->>'description', '')
		FROM jsonb_array_elements(doc->'lists') l;
	INSERT INTO list_entries (list_id, value)
		SELECT a.id, e.value
		FROM jsonb_array_elements(doc->'lists') l
		JOIN address_lists a ON a.name = l->>'name'
		CROSS JOIN LATERAL jsonb_array_elements_text(l->'entries') e(value)
		ON CONFLICT DO NOTHING;
	INSERT INTO policy_rules (name, description, position, enabled, scope, match,
				  conditions, exceptions, actions, stop)
		SELECT r->>'name', COALESCE(r->>'description', ''), (r->>'position')::integer,
		       (r->>'enabled')::boolean, r->>'scope', r->>'match', r->'conditions',
		       r->'exceptions', r->'actions', (r->>'stop')::boolean
		FROM jsonb_array_elements(doc->'policies') r;
	INSERT INTO local_domains (domain)
		SELECT DISTINCT lower(d) FROM jsonb_array_elements_text(doc->'local_domains') d;
	-- an import that changes nothing still gets its own version
	PERFORM mxg_policy_bump_now();
	RETURN (SELECT max(version) FROM policy_versions);
END $$;

CREATE FUNCTION mxg_policy_bump_now() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	v bigint;
BEGIN
	INSERT INTO policy_versions (txid) VALUES (txid_current())
		ON CONFLICT (txid) DO NOTHING RETURNING version INTO v;
	IF v IS NOT NULL THEN
		PERFORM pg_notify('mxg_policy', v::text);
	END IF;
	RETURN v;
END $$;

-- One rule as the API shows it.
CREATE FUNCTION mxg_rule_json(r policy_rules) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
	SELECT jsonb_build_object('id', r.id, 'name', r.name, 'description', r.description,
		'enabled', r.enabled, 'position', r.position, 'scope', r.scope,
		'match', r.match, 'conditions', r.conditions, 'exceptions', r.exceptions,
		'actions', r.actions, 'stop', r.stop,
		'created_at', r.created_at, 'updated_at', r.updated_at)
$$;

-- Lists a rule refers to must exist: checked here for single-rule writes
-- (imports are checked as a whole in C). Raises with the field path.
CREATE FUNCTION mxg_rule_check_lists(rule jsonb) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	c record;
BEGIN
	FOR c IN SELECT a.key AS arr, e.ord - 1 AS idx, e.value->>'list' AS list
		 FROM (VALUES ('conditions'), ('exceptions')) a(key)
		 CROSS JOIN LATERAL jsonb_array_elements(rule->a.key) WITH ORDINALITY e(value, ord)
		 WHERE e.value ? 'list' LOOP
		IF NOT EXISTS (SELECT 1 FROM address_lists WHERE name = c.list) THEN
			RAISE EXCEPTION USING ERRCODE = '22023',
				MESSAGE = format('%s[%s].list: unknown list ''%s''', c.arr, c.idx, c.list);
		END IF;
	END LOOP;
END $$;

-- Creates (|id| NULL) or replaces rule |id| with |rule| (validated). A
-- missing position appends the rule after the last one. Returns the rule
-- JSON, or NULL if |id| does not exist.
CREATE FUNCTION mxg_rule_put(rid bigint, rule jsonb, has_position boolean)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
	r policy_rules;
	pos integer;
BEGIN
	PERFORM mxg_rule_check_lists(rule);
	IF has_position THEN
		pos := (rule->>'position')::integer;
	ELSIF rid IS NOT NULL THEN
		pos := (SELECT position FROM policy_rules WHERE id = rid);
	ELSE
		pos := (SELECT COALESCE(max(position), 0) + 10 FROM policy_rules);
	END IF;
	IF rid IS NULL THEN
		INSERT INTO policy_rules (name, description, position, enabled, scope, match,
					  conditions, exceptions, actions, stop)
		VALUES (rule->>'name', rule->>'description', pos, (rule->>'enabled')::boolean,
			rule->>'scope', rule->>'match', rule->'conditions', rule->'exceptions',
			rule->'actions', (rule->>'stop')::boolean)
		RETURNING * INTO r;
	ELSE
		UPDATE policy_rules SET name = rule->>'name', description = rule->>'description',
			position = pos, enabled = (rule->>'enabled')::boolean,
			scope = rule->>'scope', match = rule->>'match',
			conditions = rule->'conditions', exceptions = rule->'exceptions',
			actions = rule->'actions', stop = (rule->>'stop')::boolean,
			updated_at = now()
		WHERE id = rid RETURNING * INTO r;
		IF NOT FOUND THEN
			RETURN NULL;
		END IF;
	END IF;
	RETURN mxg_rule_json(r) || jsonb_build_object('policy_version',
		(SELECT max(version) FROM policy_versions));
END $$;

-- Replaces list |lname| (created if absent; |kind| NULL keeps the kind).
CREATE FUNCTION mxg_list_put(lname text, lkind text, descr text, entries jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
	lid bigint;
BEGIN
	SELECT id INTO lid FROM address_lists WHERE name = lname FOR UPDATE;
	IF lid IS NULL THEN
		IF lkind IS NULL THEN
			RAISE EXCEPTION USING ERRCODE = '22023',
				MESSAGE = 'kind: required for a new list (approved_senders, '
					  'blocked_senders, addresses, domains)';
		END IF;
		INSERT INTO address_lists (name, kind, description)
		VALUES (lname, lkind, COALESCE(descr, '')) RETURNING id INTO lid;
	ELSE
		UPDATE address_lists SET kind = COALESCE(lkind, kind),
			description = COALESCE(descr, description), updated_at = now()
		WHERE id = lid;
		DELETE FROM list_entries WHERE list_id = lid
			AND NOT (entries ? value);
	END IF;
	INSERT INTO list_entries (list_id, value)
		SELECT lid, e FROM jsonb_array_elements_text(entries) e
		ON CONFLICT DO NOTHING;
	RETURN mxg_list_json(lname);
END $$;

CREATE FUNCTION mxg_list_json(lname text) RETURNS jsonb LANGUAGE sql STABLE AS $$
	SELECT jsonb_build_object('name', l.name, 'kind', l.kind,
		'description', l.description, 'updated_at', l.updated_at,
		'entries', COALESCE((SELECT jsonb_agg(e.value ORDER BY e.value)
			FROM list_entries e WHERE e.list_id = l.id), '[]'),
		'policy_version', (SELECT max(version) FROM policy_versions))
	FROM address_lists l WHERE l.name = lname
$$;
