-- catalog_comments: every object of the extension says what it is for.
-- Each query lists the extension's objects of one kind that have no
-- COMMENT: functions and aggregates, operators, operator classes and
-- families, types (not array types or the row types of tables), casts,
-- tables and views, event triggers, the columns of its tables and views,
-- and objects of any other kind.  Every list must be empty.  This test runs
-- last, so that objects added by any later file are covered.
CREATE TEMP VIEW pz_members AS
SELECT d.classid, d.objid
  FROM pg_depend d
 WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'personalize');

SELECT p.oid::regprocedure AS function_without_comment
  FROM pz_members m JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid
 WHERE obj_description(p.oid, 'pg_proc') IS NULL
 ORDER BY p.oid::regprocedure::text;

SELECT o.oid::regoperator AS operator_without_comment
  FROM pz_members m JOIN pg_operator o ON m.classid = 'pg_operator'::regclass AND o.oid = m.objid
 WHERE obj_description(o.oid, 'pg_operator') IS NULL
 ORDER BY o.oid::regoperator::text;

SELECT pg_describe_object(m.classid, m.objid, 0) AS opclass_or_family_without_comment
  FROM pz_members m
 WHERE m.classid IN ('pg_opclass'::regclass, 'pg_opfamily'::regclass)
   AND obj_description(m.objid, CASE WHEN m.classid = 'pg_opclass'::regclass THEN 'pg_opclass' ELSE 'pg_opfamily' END) IS NULL
 ORDER BY 1;

SELECT t.oid::regtype AS type_without_comment
  FROM pz_members m JOIN pg_type t ON m.classid = 'pg_type'::regclass AND t.oid = m.objid
 WHERE obj_description(t.oid, 'pg_type') IS NULL
   AND NOT (t.typcategory = 'A' AND t.typelem <> 0)     -- an array type
   AND t.typrelid = 0                                   -- a table's row type
 ORDER BY t.oid::regtype::text;

SELECT pg_describe_object(m.classid, m.objid, 0) AS cast_without_comment
  FROM pz_members m
 WHERE m.classid = 'pg_cast'::regclass AND obj_description(m.objid, 'pg_cast') IS NULL
 ORDER BY 1;

SELECT c.oid::regclass AS relation_without_comment, c.relkind
  FROM pz_members m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
 WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND obj_description(c.oid, 'pg_class') IS NULL
 ORDER BY c.oid::regclass::text;

SELECT e.evtname AS event_trigger_without_comment
  FROM pz_members m JOIN pg_event_trigger e ON m.classid = 'pg_event_trigger'::regclass AND e.oid = m.objid
 WHERE obj_description(e.oid, 'pg_event_trigger') IS NULL
 ORDER BY 1;

SELECT c.oid::regclass AS relation, a.attname AS column_without_comment
  FROM pz_members m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
 WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND col_description(c.oid, a.attnum) IS NULL
 ORDER BY c.oid::regclass::text, a.attnum;

-- objects of any other kind (sequences are described by the column they
-- number, and are left out)
SELECT pg_describe_object(m.classid, m.objid, 0) AS other_object_without_comment
  FROM pz_members m
 WHERE obj_description(m.objid, (SELECT relname FROM pg_class WHERE oid = m.classid)) IS NULL
   AND (m.classid NOT IN ('pg_proc'::regclass, 'pg_operator'::regclass, 'pg_opclass'::regclass,
                         'pg_opfamily'::regclass, 'pg_type'::regclass, 'pg_cast'::regclass,
                         'pg_class'::regclass, 'pg_event_trigger'::regclass)
    OR (m.classid = 'pg_class'::regclass
        AND (SELECT relkind FROM pg_class WHERE oid = m.objid) NOT IN ('r', 'p', 'v', 'm', 'f', 'S')))
 ORDER BY 1;
