-- Views for the DBA.  They read the ledger and consents as their owner (the
-- installing superuser), so they are not granted to anyone by default.

CREATE VIEW consent_coverage AS
SELECT c.purpose, @extschema@.tier(c.consent) AS tier, sc.name AS category, sc.tier AS category_tier,
       count(*) FILTER (WHERE @extschema@.consent_allows_tier(c.consent, sc.name, sc.tier)
                          AND sc.tier <= (SELECT array_position(enum_range(NULL::@extschema@.consent_tier), p.max_tier) - 1
                                            FROM @extschema@.purposes p WHERE p.name = c.purpose)) AS subjects_allowed,
       count(*) AS subjects_with_consent
  FROM @extschema@.consents c CROSS JOIN @extschema@.signal_categories sc
 GROUP BY 1, 2, 3, 4;
COMMENT ON VIEW consent_coverage IS 'per purpose, consent tier and category: how many subjects allow it';
COMMENT ON COLUMN consent_coverage.purpose IS 'the purpose consented to';
COMMENT ON COLUMN consent_coverage.tier IS 'the tier of the consents counted';
COMMENT ON COLUMN consent_coverage.category IS 'a signal category';
COMMENT ON COLUMN consent_coverage.category_tier IS 'the tier of the category (1 functional, 2 personalization, 3 enhanced)';
COMMENT ON COLUMN consent_coverage.subjects_allowed IS 'subjects whose consent allows the category under the purpose (within the purpose''s tier cap)';
COMMENT ON COLUMN consent_coverage.subjects_with_consent IS 'subjects with a consent of this tier for the purpose';

CREATE VIEW consent_history AS
SELECT entry_id, subject_id, purpose, action, consent, @extschema@.tier(consent) AS tier,
       source, notice_version, recorded_by, recorded_at, subject_key
  FROM @extschema@.consent_ledger;
COMMENT ON VIEW consent_history IS 'the consent ledger, in order';
COMMENT ON COLUMN consent_history.entry_id IS 'order of recording';
COMMENT ON COLUMN consent_history.subject_id IS 'the person the consent is about';
COMMENT ON COLUMN consent_history.purpose IS 'the purpose consented to';
COMMENT ON COLUMN consent_history.action IS 'set or withdraw';
COMMENT ON COLUMN consent_history.consent IS 'the consent recorded';
COMMENT ON COLUMN consent_history.tier IS 'its tier';
COMMENT ON COLUMN consent_history.source IS 'where the person gave it, as the caller said';
COMMENT ON COLUMN consent_history.notice_version IS 'the version of the notice the person was shown';
COMMENT ON COLUMN consent_history.recorded_by IS 'the role that recorded it';
COMMENT ON COLUMN consent_history.recorded_at IS 'when';
COMMENT ON COLUMN consent_history.subject_key IS 'the keyed hash that replaced the subject id at erasure (NULL before)';

CREATE VIEW purpose_access AS
SELECT g.role, g.purpose, p.max_tier, p.personal_data_allowed, g.granted_by, g.granted_at,
       ARRAY(SELECT m.roleid::regrole FROM pg_auth_members m WHERE m.member = g.role::oid) AS member_of
  FROM @extschema@.purpose_grants g JOIN @extschema@.purposes p ON p.name = g.purpose;
COMMENT ON VIEW purpose_access IS 'which roles may act under which purpose';
COMMENT ON COLUMN purpose_access.role IS 'the grantee (its members with INHERIT hold the purpose too)';
COMMENT ON COLUMN purpose_access.purpose IS 'the purpose granted';
COMMENT ON COLUMN purpose_access.max_tier IS 'the purpose''s tier cap';
COMMENT ON COLUMN purpose_access.personal_data_allowed IS 'whether the purpose may read personal data at all';
COMMENT ON COLUMN purpose_access.granted_by IS 'the role that called grant_purpose()';
COMMENT ON COLUMN purpose_access.granted_at IS 'when';
COMMENT ON COLUMN purpose_access.member_of IS 'the roles the grantee is a member of';

CREATE VIEW protection_status AS
SELECT t.relid AS table_name, t.subject_column, coalesce(t.category_column::text, quote_literal(t.category_constant)) AS category,
       c.relrowsecurity AS rls_enabled, c.relforcerowsecurity AS rls_forced,
       EXISTS (SELECT 1 FROM pg_policy pol WHERE pol.polrelid = t.relid AND pol.polname = 'personalize_consent') AS policy_present,
       t.inherited_from,
       ARRAY(SELECT d FROM @extschema@.descendants(t.relid) d
              WHERE NOT EXISTS (SELECT 1 FROM @extschema@.protected_tables p WHERE p.relid = d)
              ORDER BY d::text) AS unprotected_descendants,
       @extschema@.open_channels(t.relid) AS open_channels,
       t.protected_by, t.protected_at, t.time_column, t.erasable
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
COMMENT ON COLUMN protection_status.time_column IS 'its column holding when each row was recorded (retention applies), or NULL';
COMMENT ON COLUMN protection_status.erasable IS 'erase_subject() deletes the subject''s rows from it';

REVOKE ALL ON consent_coverage, consent_history, purpose_access, protection_status FROM PUBLIC;
