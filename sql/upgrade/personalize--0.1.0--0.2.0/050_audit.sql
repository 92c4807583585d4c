-- protection_status shows partitions and children, and open channels.
DROP VIEW protection_status;
CREATE VIEW protection_status AS
SELECT t.relid AS table_name, t.subject_column, coalesce(t.category_column::text, quote_literal(t.category_constant)) AS category,
       c.relrowsecurity AS rls_enabled, c.relforcerowsecurity AS rls_forced,
       EXISTS (SELECT 1 FROM pg_policy pol WHERE pol.polrelid = t.relid AND pol.polname = 'personalize_consent') AS policy_present,
       t.inherited_from,
       ARRAY(SELECT d FROM @extschema@.descendants(t.relid) d
              WHERE NOT EXISTS (SELECT 1 FROM @extschema@.protected_tables p WHERE p.relid = d)
              ORDER BY d::text) AS unprotected_descendants,
       @extschema@.open_channels(t.relid) AS open_channels,
       t.protected_by, t.protected_at
  FROM @extschema@.protected_tables t JOIN pg_class c ON c.oid = t.relid;
COMMENT ON VIEW protection_status IS 'tables filtered by consent, whether their protection is intact, and what their keys can still tell about hidden rows';
COMMENT ON COLUMN protection_status.table_name IS 'the protected table';
COMMENT ON COLUMN protection_status.subject_column IS 'its column holding the subject id';
COMMENT ON COLUMN protection_status.category IS 'its category column, or the quoted category of every row';
COMMENT ON COLUMN protection_status.rls_enabled IS 'row-level security is enabled (false: protection lifted by the owner)';
COMMENT ON COLUMN protection_status.rls_forced IS 'row-level security is forced, so the owner is filtered too';
COMMENT ON COLUMN protection_status.policy_present IS 'the personalize_consent policy is in place';
COMMENT ON COLUMN protection_status.inherited_from IS 'the protected ancestor it was protected through, for a partition or inheritance child';
COMMENT ON COLUMN protection_status.unprotected_descendants IS 'partitions or children not protected (should be empty: new ones are protected as they are created)';
COMMENT ON COLUMN protection_status.open_channels IS 'unique keys, foreign keys, REFERENCES grants and extended statistics that can still tell about hidden rows';
COMMENT ON COLUMN protection_status.protected_by IS 'the role that called protect()';
COMMENT ON COLUMN protection_status.protected_at IS 'when';
REVOKE ALL ON protection_status FROM PUBLIC;
