-- SPDX-License-Identifier: BSD-3-Clause
--
-- 0002_policy.sql - the compiled policy's source document.
--
-- mxg_policy_snapshot() is what every node compiles (control/pol.h,
-- pol_snap_load): the enabled rules in evaluation order with their ids, the
-- address lists with their entries and the local domains, stamped with the
-- policy version. It is one STABLE SQL statement, so the version and the
-- content come from the same database snapshot: a node never runs rules of
-- version N+1 labelled N. Rules and lists have the shapes mxg_config_export()
-- (0001) gives them, which are the shapes control/ctl_valid.c normalises to.
--
-- Why SQL and not C in mxgate-control: the document is built where the data
-- is, in one round trip, and the snapshot's consistency is PostgreSQL's
-- (no multi-query read to keep consistent by hand).

CREATE FUNCTION mxg_policy_snapshot() RETURNS jsonb LANGUAGE sql STABLE AS $$
	SELECT jsonb_build_object(
		'format', 'mxgate-policy',
		'version', COALESCE((SELECT max(version) FROM policy_versions), 0),
		'local_domains', COALESCE((SELECT jsonb_agg(domain ORDER BY domain)
				FROM local_domains), '[]'),
		'lists', COALESCE((SELECT jsonb_agg(jsonb_build_object(
				'name', l.name, 'kind', l.kind, 'description', l.description,
				'entries', COALESCE((SELECT jsonb_agg(e.value ORDER BY e.value)
					FROM list_entries e WHERE e.list_id = l.id), '[]'))
				ORDER BY l.name) FROM address_lists l), '[]'),
		'policies', COALESCE((SELECT jsonb_agg(jsonb_build_object(
				'id', id, 'name', name, 'description', description,
				'enabled', enabled, 'position', position, 'scope', scope,
				'match', match, 'conditions', conditions,
				'exceptions', exceptions, 'actions', actions, 'stop', stop)
				ORDER BY position, id) FROM policy_rules WHERE enabled), '[]'))
$$;

-- The out-of-the-box policy is not here: ctl_boot.c imports
-- ctl_default_config (ctl_valid.c) into a fresh database.
