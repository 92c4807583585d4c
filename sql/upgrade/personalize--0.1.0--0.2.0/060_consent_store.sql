-- The shared consent store (sql/install/070_policies.sql): personalize.
-- consents loses the generic invalidation triggers (0.1.0 had a statement
-- trigger; later 0.2.0 parts may have added a row trigger for replicas) and
-- gets the triggers that feed the store, enabled ALWAYS.
DROP TRIGGER IF EXISTS invalidate_visibility ON consents;
DROP TRIGGER IF EXISTS invalidate_visibility_apply ON consents;

CREATE FUNCTION consents_changed() RETURNS trigger
	AS 'MODULE_PATHNAME', 'pz_consents_changed' LANGUAGE C;
REVOKE ALL ON FUNCTION consents_changed() FROM PUBLIC;
COMMENT ON FUNCTION consents_changed() IS 'trigger on personalize.consents: keeps the shared consent store current (at commit) and shows a transaction its own changes';
CREATE TRIGGER consents_changed AFTER INSERT OR UPDATE OR DELETE ON consents
	FOR EACH ROW EXECUTE FUNCTION consents_changed();
CREATE TRIGGER consents_truncated AFTER TRUNCATE ON consents
	FOR EACH STATEMENT EXECUTE FUNCTION consents_changed();
ALTER TABLE consents ENABLE ALWAYS TRIGGER consents_changed;
ALTER TABLE consents ENABLE ALWAYS TRIGGER consents_truncated;

CREATE FUNCTION consent_store(OUT database name, OUT state text, OUT stale boolean,
                              OUT purposes integer, OUT consents bigint, OUT classes integer,
                              OUT bytes bigint, OUT built_at timestamptz, OUT build_ms double precision,
                              OUT builds bigint, OUT changes_applied bigint, OUT detail text)
RETURNS SETOF record AS 'MODULE_PATHNAME', 'pz_consent_store_sql' LANGUAGE C VOLATILE;
REVOKE ALL ON FUNCTION consent_store() FROM PUBLIC;
COMMENT ON FUNCTION consent_store() IS
	'the consent stores in shared memory, one per database: state (ready, stale, building, unusable, empty), purposes, consents held, distinct consents, bytes, when built and how long it took, builds, committed changes applied';
