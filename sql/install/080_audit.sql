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

CREATE VIEW consent_history AS
SELECT entry_id, subject_id, purpose, action, consent, @extschema@.tier(consent) AS tier,
       source, notice_version, recorded_by, recorded_at
  FROM @extschema@.consent_ledger;
COMMENT ON VIEW consent_history IS 'the consent ledger, in order';

CREATE VIEW purpose_access AS
SELECT g.role, g.purpose, p.max_tier, p.personal_data_allowed, g.granted_by, g.granted_at,
       ARRAY(SELECT m.roleid::regrole FROM pg_auth_members m WHERE m.member = g.role::oid) AS member_of
  FROM @extschema@.purpose_grants g JOIN @extschema@.purposes p ON p.name = g.purpose;
COMMENT ON VIEW purpose_access IS 'which roles may act under which purpose';

CREATE VIEW protection_status AS
SELECT t.relid AS table_name, t.subject_column, coalesce(t.category_column::text, quote_literal(t.category_constant)) AS category,
       c.relrowsecurity AS rls_enabled, c.relforcerowsecurity AS rls_forced,
       EXISTS (SELECT 1 FROM pg_policy pol WHERE pol.polrelid = t.relid AND pol.polname = 'personalize_consent') AS policy_present,
       t.protected_by, t.protected_at
  FROM @extschema@.protected_tables t JOIN pg_class c ON c.oid = t.relid;
COMMENT ON VIEW protection_status IS 'tables filtered by consent, and whether their protection is intact';

REVOKE ALL ON consent_coverage, consent_history, purpose_access, protection_status FROM PUBLIC;
