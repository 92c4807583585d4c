-- catalog_dump: what pg_dump keeps of the extension's data.  An extension's
-- tables and sequences are dumped only when it says so
-- (pg_extension_config_dump): a table left out loses its rows in a dump,
-- and a sequence left out makes a restored database hand out ids that exist
-- already.  test/t/010_dump_restore.pl restores a dump; this test keeps
-- objects added later from being forgotten.  The first two lists must be
-- empty.
CREATE TEMP VIEW pz_config AS
SELECT x.oid::regclass AS relid, x.cond
  FROM pg_extension e, unnest(e.extconfig, e.extcondition) AS x(oid, cond)
 WHERE e.extname = 'personalize';
CREATE TEMP VIEW pz_relations AS
SELECT c.oid::regclass AS relid, c.relkind
  FROM pg_depend d JOIN pg_class c ON c.oid = d.objid
 WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'personalize');

-- tables of the extension whose rows pg_dump would not dump
SELECT r.relid AS table_not_dumped
  FROM pz_relations r
 WHERE r.relkind IN ('r', 'p') AND r.relid NOT IN (SELECT relid FROM pz_config)
 ORDER BY r.relid::text;

-- sequences (identity or serial) of dumped tables whose state would not be
SELECT s.objid::regclass AS sequence_not_dumped, s.refobjid::regclass AS of_table
  FROM pg_depend s
 WHERE s.classid = 'pg_class'::regclass AND s.refclassid = 'pg_class'::regclass
   AND s.deptype IN ('a', 'i') AND s.refobjsubid > 0
   AND (SELECT relkind FROM pg_class WHERE oid = s.objid) = 'S'
   AND s.refobjid IN (SELECT relid FROM pz_config)
   AND s.objid NOT IN (SELECT relid FROM pz_config)
 ORDER BY s.objid::regclass::text;

-- tables with rows the install script writes (a "builtin" column): a
-- restore runs CREATE EXTENSION, which writes them again, so either they
-- are left out of the dump (nothing in them is an administrator's to
-- change), or they are dumped and a merge_restored trigger turns each
-- restored one into an update of the installed row (a tuned weight or
-- retention, a disabled built-in job, survives).  Dumped without such a
-- trigger, they would fail the restore with duplicate keys.
SELECT c.relid AS table_with_builtin_rows, c.cond AS dumped_rows,
       EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = c.relid AND t.tgname = 'merge_restored') AS merges_restored_rows
  FROM pz_config c
 WHERE EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.relid AND a.attname = 'builtin' AND NOT a.attisdropped)
 ORDER BY c.relid::text;
