-- Every object of the personalize extension, described in enough detail
-- that two databases print the same lines exactly when they hold the same
-- extension catalogue: definitions, privileges, comments, row-level security,
-- triggers and their firing modes, policies, what pg_dump is told to dump.
-- test/t/006_upgrade.pl compares a fresh install with an updated one.
-- Privileges are shown for PUBLIC and superusers only: grants to other roles
-- are the application's (grant_purpose() makes some), not the catalogue's.
WITH members AS (
	SELECT d.classid, d.objid
	  FROM pg_depend d
	 WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
	   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'personalize')
), lines AS (
	-- what the object is, its comment
	SELECT 'object ' || pg_describe_object(m.classid, m.objid, 0)
	       || coalesce(' -- ' || obj_description(m.objid, (SELECT relname FROM pg_class WHERE oid = m.classid)), '') AS line
	  FROM members m
	UNION ALL
	-- functions: full definition and privileges
	SELECT 'function ' || p.oid::regprocedure || ' ' || replace(pg_get_functiondef(p.oid), E'\n', ' \n ') || ' acl ' || coalesce((SELECT string_agg(CASE WHEN x.grantee = 0 THEN 'PUBLIC' ELSE 'superuser' END || ':' || x.privilege_type, ',' ORDER BY x.grantee = 0, x.privilege_type) FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) x WHERE x.grantee = 0 OR (SELECT r.rolsuper FROM pg_roles r WHERE r.oid = x.grantee)), 'none')
	  FROM members m JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid
	 WHERE p.prokind <> 'a'
	UNION ALL
	SELECT 'aggregate ' || p.oid::regprocedure || ' ' || a.aggtransfn || ' ' || a.aggfinalfn || ' '
	       || a.aggcombinefn || ' ' || a.aggserialfn || ' ' || a.aggdeserialfn || ' ' || a.aggtranstype::regtype
	       || ' ' || p.proparallel::text || ' acl ' || coalesce((SELECT string_agg(CASE WHEN x.grantee = 0 THEN 'PUBLIC' ELSE 'superuser' END || ':' || x.privilege_type, ',' ORDER BY x.grantee = 0, x.privilege_type) FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) x WHERE x.grantee = 0 OR (SELECT r.rolsuper FROM pg_roles r WHERE r.oid = x.grantee)), 'none')
	  FROM members m JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid
	  JOIN pg_aggregate a ON a.aggfnoid = p.oid
	UNION ALL
	-- relations: kind, RLS flags, privileges, columns, and what is dumped
	SELECT 'relation ' || c.oid::regclass || ' kind ' || c.relkind::text || ' rls ' || c.relrowsecurity
	       || ' force ' || c.relforcerowsecurity || ' acl ' || coalesce((SELECT string_agg(CASE WHEN x.grantee = 0 THEN 'PUBLIC' ELSE 'superuser' END || ':' || x.privilege_type, ',' ORDER BY x.grantee = 0, x.privilege_type) FROM aclexplode(coalesce(c.relacl, acldefault(CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END::"char", c.relowner))) x WHERE x.grantee = 0 OR (SELECT r.rolsuper FROM pg_roles r WHERE r.oid = x.grantee)), 'none')
	       || ' options ' || coalesce(c.reloptions::text, '')
	  FROM members m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
	UNION ALL
	SELECT 'column ' || c.oid::regclass || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
	       || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
	       || coalesce(' default ' || pg_get_expr(ad.adbin, ad.adrelid), '')
	       || CASE a.attidentity WHEN 'a' THEN ' identity always' WHEN 'd' THEN ' identity by default' ELSE '' END
	       || ' acl ' || coalesce((SELECT string_agg(CASE WHEN x.grantee = 0 THEN 'PUBLIC' ELSE 'superuser' END || ':' || x.privilege_type, ',' ORDER BY x.grantee = 0, x.privilege_type) FROM aclexplode(a.attacl) x WHERE x.grantee = 0 OR (SELECT r.rolsuper FROM pg_roles r WHERE r.oid = x.grantee)), 'none') || CASE WHEN a.attacl IS NULL THEN ' (default)' ELSE '' END
	       || coalesce(' -- ' || col_description(c.oid, a.attnum), '')
	  FROM members m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
	  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
	  LEFT JOIN pg_attrdef ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum
	UNION ALL
	SELECT 'view ' || c.oid::regclass || ' ' || replace(pg_get_viewdef(c.oid), E'\n', ' \n ')
	  FROM members m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
	 WHERE c.relkind IN ('v', 'm')
	UNION ALL
	SELECT 'constraint ' || con.conrelid::regclass || ' ' || con.conname || ' ' || pg_get_constraintdef(con.oid)
	  FROM members m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
	  JOIN pg_constraint con ON con.conrelid = c.oid
	UNION ALL
	SELECT 'index ' || pg_get_indexdef(i.indexrelid)
	  FROM members m JOIN pg_index i ON m.classid = 'pg_class'::regclass AND i.indrelid = m.objid
	UNION ALL
	SELECT 'trigger ' || pg_get_triggerdef(t.oid) || ' enabled ' || t.tgenabled::text
	  FROM members m JOIN pg_trigger t ON m.classid = 'pg_class'::regclass AND t.tgrelid = m.objid
	 WHERE NOT t.tgisinternal
	UNION ALL
	SELECT 'policy ' || pol.polrelid::regclass || ' ' || pol.polname || ' ' || pol.polcmd::text || ' '
	       || pol.polpermissive || ' to ' || pol.polroles::text
	       || ' using ' || coalesce(pg_get_expr(pol.polqual, pol.polrelid), '-')
	       || ' check ' || coalesce(pg_get_expr(pol.polwithcheck, pol.polrelid), '-')
	  FROM members m JOIN pg_policy pol ON m.classid = 'pg_class'::regclass AND pol.polrelid = m.objid
	UNION ALL
	SELECT 'event trigger ' || e.evtname || ' ' || e.evtevent || ' ' || e.evtfoid::regproc || ' '
	       || e.evtenabled::text || ' ' || coalesce(e.evttags::text, '')
	  FROM members m JOIN pg_event_trigger e ON m.classid = 'pg_event_trigger'::regclass AND e.oid = m.objid
	UNION ALL
	SELECT 'type ' || t.oid::regtype || ' ' || t.typtype::text || ' ' || t.typinput || ' ' || t.typoutput
	       || ' ' || t.typreceive || ' ' || t.typsend || ' ' || t.typmodin || ' ' || t.typstorage::text
	       || ' ' || t.typalign::text || ' ' || t.typlen || ' acl ' || coalesce((SELECT string_agg(CASE WHEN x.grantee = 0 THEN 'PUBLIC' ELSE 'superuser' END || ':' || x.privilege_type, ',' ORDER BY x.grantee = 0, x.privilege_type) FROM aclexplode(coalesce(t.typacl, acldefault('T', t.typowner))) x WHERE x.grantee = 0 OR (SELECT r.rolsuper FROM pg_roles r WHERE r.oid = x.grantee)), 'none')
	       || coalesce(' labels ' || (SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder)
	                                   FROM pg_enum e WHERE e.enumtypid = t.oid), '')
	  FROM members m JOIN pg_type t ON m.classid = 'pg_type'::regclass AND t.oid = m.objid
	UNION ALL
	SELECT 'operator ' || o.oid::regoperator || ' ' || o.oprcode || ' ' || o.oprcom::regoperator || ' '
	       || o.oprnegate::regoperator || ' ' || o.oprrest || ' ' || o.oprjoin
	  FROM members m JOIN pg_operator o ON m.classid = 'pg_operator'::regclass AND o.oid = m.objid
	UNION ALL
	SELECT 'cast ' || c.castsource::regtype || ' -> ' || c.casttarget::regtype || ' ' || c.castfunc::regprocedure
	       || ' ' || c.castcontext::text || ' ' || c.castmethod::text
	  FROM members m JOIN pg_cast c ON m.classid = 'pg_cast'::regclass AND c.oid = m.objid
	UNION ALL
	SELECT 'opclass ' || oc.opcname || ' ' || am.amname || ' ' || oc.opcintype::regtype || ' '
	       || (SELECT string_agg(ao.amopstrategy || ':' || ao.amopopr::regoperator, ',' ORDER BY ao.amopstrategy)
	             FROM pg_amop ao WHERE ao.amopfamily = oc.opcfamily)
	       || ' ' || (SELECT string_agg(ap.amprocnum || ':' || ap.amproc::regprocedure, ',' ORDER BY ap.amprocnum)
	                    FROM pg_amproc ap WHERE ap.amprocfamily = oc.opcfamily)
	  FROM members m JOIN pg_opclass oc ON m.classid = 'pg_opclass'::regclass AND oc.oid = m.objid
	  JOIN pg_am am ON am.oid = oc.opcmethod
	UNION ALL
	-- what pg_dump dumps of the extension's tables
	SELECT 'dumped ' || c.relname || ' ' || coalesce(x.cond, '')
	  FROM pg_extension e, unnest(e.extconfig, e.extcondition) AS x(oid, cond)
	  JOIN pg_class c ON c.oid = x.oid
	 WHERE e.extname = 'personalize'
	UNION ALL
	-- initial privileges recorded for the extension's objects, where they
	-- differ from what the object would have by default
	SELECT 'init privs ' || pg_describe_object(ip.classoid, ip.objoid, ip.objsubid) || ' '
	       || coalesce((SELECT string_agg(CASE WHEN x.grantee = 0 THEN 'PUBLIC' ELSE 'superuser' END || ':' || x.privilege_type, ',' ORDER BY x.grantee = 0, x.privilege_type)
	                      FROM aclexplode(ip.initprivs) x
	                     WHERE x.grantee = 0 OR (SELECT r.rolsuper FROM pg_roles r WHERE r.oid = x.grantee)), 'none')
	  FROM pg_init_privs ip JOIN members m ON m.classid = ip.classoid AND m.objid = ip.objoid
	 WHERE ip.initprivs IS DISTINCT FROM CASE
	           WHEN ip.classoid = 'pg_class'::regclass AND ip.objsubid = 0
	           THEN (SELECT acldefault('r', c.relowner) FROM pg_class c WHERE c.oid = ip.objoid)
	           WHEN ip.classoid = 'pg_proc'::regclass
	           THEN (SELECT acldefault('f', p.proowner) FROM pg_proc p WHERE p.oid = ip.objoid)
	           WHEN ip.classoid = 'pg_type'::regclass
	           THEN (SELECT acldefault('T', t.typowner) FROM pg_type t WHERE t.oid = ip.objoid) END
	UNION ALL
	-- the rows the install script itself writes
	SELECT 'row signal_categories ' || to_jsonb(t)::text FROM personalize.signal_categories t WHERE t.builtin
	UNION ALL
	SELECT 'row purposes ' || to_jsonb(t)::text FROM personalize.purposes t WHERE t.builtin
	UNION ALL
	SELECT 'row interaction_kinds ' || to_jsonb(t)::text FROM personalize.interaction_kinds t WHERE t.builtin
	UNION ALL
	SELECT 'row protected_tables ' || (to_jsonb(t) - 'protected_at' - 'protected_by')::text
	  FROM personalize.protected_tables t WHERE t.builtin
	UNION ALL
	SELECT 'schema acl ' || coalesce((SELECT string_agg(CASE WHEN x.grantee = 0 THEN 'PUBLIC' ELSE 'superuser' END || ':' || x.privilege_type, ',' ORDER BY x.grantee = 0, x.privilege_type) FROM aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) x WHERE x.grantee = 0 OR (SELECT r.rolsuper FROM pg_roles r WHERE r.oid = x.grantee)), 'none')
	  FROM pg_namespace n WHERE n.nspname = 'personalize'
)
SELECT line FROM lines ORDER BY line COLLATE "C";
