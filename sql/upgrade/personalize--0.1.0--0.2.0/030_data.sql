-- Only roles holding a purpose may read interactions (through the policy):
-- the SELECT PUBLIC had goes to them.
REVOKE SELECT ON interactions FROM PUBLIC;
DO $$
DECLARE
	r regrole;
BEGIN
	FOR r IN SELECT DISTINCT g.role FROM @extschema@.purpose_grants g
	          WHERE EXISTS (SELECT 1 FROM pg_roles x WHERE x.oid = g.role) LOOP
		EXECUTE format('GRANT SELECT ON @extschema@.interactions TO %s', r);
	END LOOP;
END $$;
-- A grant made by an extension script is recorded as an initial privilege,
-- which pg_dump leaves out: these are the application's grants, so they
-- must be dumped like those grant_purpose() makes later.
UPDATE pg_catalog.pg_init_privs ip
   SET initprivs = ARRAY(SELECT a FROM unnest(ip.initprivs) a
                          WHERE NOT EXISTS (SELECT 1 FROM @extschema@.purpose_grants g
                                             WHERE g.role::oid = (SELECT x.grantee FROM aclexplode(ARRAY[a]) x LIMIT 1)))
 WHERE ip.classoid = 'pg_class'::regclass AND ip.objoid = '@extschema@.interactions'::regclass AND ip.objsubid = 0;
