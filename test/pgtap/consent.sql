-- pgTAP: the consent surface's security contract (privileges, row-level
-- security, triggers, function attributes) and its refusals by SQLSTATE.
SET search_path = public, personalize;
BEGIN;
SELECT plan(79);

-- Run a query as another role with a purpose declared by that role; the
-- role switch happens inside, so pgTAP's own tables stay reachable.
CREATE FUNCTION pg_temp.as_role(r text, purpose text, q text) RETURNS SETOF text
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM set_config('role', r, true);
	IF purpose IS NOT NULL THEN
		PERFORM set_config('personalize.purpose', purpose, true);
	END IF;
	RETURN QUERY EXECUTE q;
	PERFORM set_config('role', 'none', true);
	PERFORM set_config('personalize.purpose', '', true);
END $$;

-- ---- function attributes
SELECT is((SELECT string_agg(p.oid::regprocedure::text, ', ' ORDER BY p.oid::regprocedure::text)
             FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE n.nspname = 'personalize' AND p.prosecdef
              AND NOT coalesce(p.proconfig @> ARRAY['search_path=pg_catalog, pg_temp'], false)),
          NULL, 'every SECURITY DEFINER function pins search_path to pg_catalog, pg_temp');
SELECT is((SELECT count(*)::int FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE n.nspname = 'personalize' AND p.proleakproof), 0, 'no personalize function is LEAKPROOF');
SELECT volatility_is('personalize', 'row_visible', ARRAY['bigint', 'text'], 'stable',
                     'row_visible is STABLE (never folded at plan time)');
SELECT is_strict('personalize', 'row_visible', ARRAY['bigint', 'text'], 'row_visible is STRICT (NULL is not visible)');
SELECT isnt_definer('personalize', 'row_visible', ARRAY['bigint', 'text'], 'row_visible runs as the reader');
SELECT is_definer('personalize', 'set_consent',
                  ARRAY['bigint', 'text', 'consent_tier', 'text[]', 'text[]', 'text', 'text'],
                  'set_consent is SECURITY DEFINER');

-- ---- EXECUTE: recording consent, reading it and managing purposes are not PUBLIC
SELECT ok(NOT has_function_privilege('public', f, 'EXECUTE'), 'PUBLIC may not execute ' || f)
  FROM unnest(ARRAY[
	'personalize.set_consent(bigint, text, personalize.consent_tier, text[], text[], text, text)',
	'personalize.withdraw_consent(bigint, text, text, text)',
	'personalize.consent_of(bigint, text)',
	'personalize.record_consent(bigint, text, text, personalize.consent, text, text)',
	'personalize.grant_purpose(regrole, text)',
	'personalize.revoke_purpose(regrole, text)',
	'personalize.create_purpose(text, text, personalize.consent_tier, boolean, boolean, boolean)',
	'personalize.protect(regclass, name, text, name, boolean)',
	'personalize.unprotect(regclass)',
	'personalize.protect_one(regclass, name, text, regclass, name, boolean)',
	'personalize.protect_descendants()',
	'personalize.invalidate_visibility()',
	'personalize.serving_changed()',
	'personalize.activate_model(bigint)',
	'personalize.rollback_model(text)',
	'personalize.schedule_job(text, text, interval, jsonb, boolean, timestamptz)',
	'personalize.run_jobs()',
	'personalize.drift_job(jsonb)',
	'personalize.export_subject(bigint)',
	'personalize.erase_subject(bigint)',
	'personalize.reset_subject(bigint)',
	'personalize.set_privacy_budget(text, float8, float8)',
	'personalize.drop_privacy_budget(text)',
	'personalize.spend_privacy_budget(text, bigint, float8, float8)',
	'personalize.privacy_budget_refusal(text, jsonb)',
	'personalize.train(text, text, integer, integer, real, real, integer, text, interval, boolean, real, integer, bigint, text, jsonb, float8, float8)']) f;

-- ---- table privileges of PUBLIC
SELECT ok(NOT has_table_privilege('public', t, 'SELECT'), 'PUBLIC may not read ' || t)
  FROM unnest(ARRAY['personalize.interactions', 'personalize.consents', 'personalize.consent_ledger', 'personalize.consent_coverage',
                    'personalize.consent_history', 'personalize.purpose_access', 'personalize.protection_status',
                    'personalize.purpose_grants']) t;
SELECT is((SELECT string_agg(c.relname || ':' || pr, ', ' ORDER BY c.relname, pr)
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace,
                  unnest(ARRAY['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER']) pr
            WHERE n.nspname = 'personalize' AND c.relkind IN ('r', 'v', 'p')
              AND has_table_privilege('public', c.oid, pr)),
          NULL, 'PUBLIC may not write to, reference or trigger on any personalize table');

-- ---- row-level security
SELECT ok((SELECT relrowsecurity AND relforcerowsecurity FROM pg_class WHERE oid = t::regclass),
          t || ' has row-level security enabled and forced')
  FROM unnest(ARRAY['personalize.interactions', 'personalize.consents', 'personalize.consent_ledger']) t;
SELECT policies_are('personalize', 'interactions', ARRAY['personalize_consent', 'personalize_insert'],
                    'interactions has exactly the consent and insert policies');
SELECT policy_cmd_is('personalize', 'interactions', 'personalize_consent', 'select',
                     'the consent policy is FOR SELECT');
SELECT is((SELECT count(*)::int FROM pg_policy
            WHERE polrelid IN ('personalize.consents'::regclass, 'personalize.consent_ledger'::regclass,
                               'personalize.purpose_grants'::regclass)),
          0, 'consents, the ledger and purpose grants have no policy: only their owner''s functions reach them');
-- the registry: row-level security forced, and nothing but a read policy
SELECT is((SELECT string_agg(c.relname, ', ' ORDER BY c.relname) FROM pg_class c
            WHERE c.oid = ANY (ARRAY['personalize.signal_categories', 'personalize.purposes', 'personalize.purpose_grants',
                                     'personalize.protected_tables', 'personalize.interaction_kinds', 'personalize.models',
                                     'personalize.model_item_factors', 'personalize.model_neighbors',
                                     'personalize.model_popularity', 'personalize.privacy_budgets',
                                     'personalize.privacy_spending']::regclass[])
              AND NOT (c.relrowsecurity AND c.relforcerowsecurity)),
          NULL, 'every registry table has row-level security enabled and forced');
SELECT is((SELECT string_agg(polrelid::regclass || '.' || polname || ':' || polcmd::text, ', ') FROM pg_policy
            WHERE polrelid = ANY (ARRAY['personalize.signal_categories', 'personalize.purposes',
                                        'personalize.protected_tables', 'personalize.interaction_kinds',
                                        'personalize.models', 'personalize.model_item_factors',
                                        'personalize.model_neighbors', 'personalize.model_popularity',
                                        'personalize.privacy_budgets', 'personalize.privacy_spending']::regclass[])
              AND NOT (polcmd = 'r' AND polname = 'readable')),
          NULL, 'registry tables have one policy each, and it only reads');

-- ---- triggers
SELECT has_trigger('personalize', 'consent_ledger', 'append_only', 'ledger refuses UPDATE/DELETE');
SELECT has_trigger('personalize', 'consent_ledger', 'append_only_truncate', 'ledger refuses TRUNCATE');
SELECT is((SELECT string_agg(tgname || '=' || tgenabled::text, ', ' ORDER BY tgname) FROM pg_trigger
            WHERE tgrelid = 'personalize.consent_ledger'::regclass AND tgname LIKE 'append_only%'),
          'append_only=A, append_only_truncate=A',
          'the append-only triggers fire ALWAYS (also with session_replication_role = replica)');
SELECT is((SELECT string_agg(tgname || '=' || tgenabled::text, ', ' ORDER BY tgname) FROM pg_trigger
            WHERE tgrelid = ('personalize.' || t)::regclass AND tgname LIKE 'invalidate_visibility%'),
          'invalidate_visibility=A, invalidate_visibility_apply=R',
          t || ' changes invalidate the visibility cache, in replica sessions and replication apply too')
  FROM unnest(ARRAY['purposes', 'purpose_grants', 'signal_categories', 'protected_tables']) t;
SELECT is((SELECT string_agg(c.relname || '.' || t.tgname || '=' || t.tgenabled::text, ', ' ORDER BY c.relname, t.tgname)
             FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
            WHERE t.tgname LIKE 'serving_changed%'),
          'items.serving_changed=A, items.serving_changed_apply=R, '
          'models.serving_changed=A, models.serving_changed_apply=R',
          'catalogue and model changes reach serving, in replica sessions and replication apply too');
SELECT is((SELECT string_agg(evtname || ':' || evtevent || '=' || evtenabled::text, ', ' ORDER BY evtname)
             FROM pg_event_trigger WHERE evtname LIKE 'personalize%'),
          'personalize_forget_dropped:sql_drop=A, personalize_protect_descendants:ddl_command_end=A',
          'event triggers protect new partitions and forget dropped tables, always');
SELECT is((SELECT string_agg(tgname || '=' || tgenabled::text, ', ' ORDER BY tgname) FROM pg_trigger
            WHERE tgrelid = 'personalize.consents'::regclass AND NOT tgisinternal),
          'consents_changed=A, consents_truncated=A',
          'consents changes feed the consent store, ALWAYS (also in replica sessions and the apply worker)');

-- ---- the setting
SELECT is((SELECT context FROM pg_settings WHERE name = 'personalize.purpose'), 'user',
          'personalize.purpose is a user setting');
SELECT throws_ok($$SET personalize.other = 'x'$$, '42602', NULL, 'the personalize.* prefix is reserved');

-- ---- behaviour, inside this transaction
SET LOCAL client_min_messages = warning;
CREATE ROLE regress_pz_tap_app;
CREATE ROLE regress_pz_tap_none;
DO $$
BEGIN
	PERFORM personalize.grant_purpose('regress_pz_tap_app', 'recommendation');
	PERFORM personalize.grant_purpose('regress_pz_tap_app', 'pricing');
	INSERT INTO personalize.items (item_id) VALUES (501);
	PERFORM personalize.track(s, 501, c)
	   FROM generate_series(501, 503) s, unnest(ARRAY['session', 'purchase_history', 'location']) c;
	-- 501 personalization -> session, purchase_history; 502 enhanced+location -> all 3; 503 nothing
	PERFORM personalize.set_consent(501, 'recommendation', 'personalization');
	PERFORM personalize.set_consent(502, 'recommendation', 'enhanced', '{location}');
END $$;

SELECT results_eq($$SELECT * FROM pg_temp.as_role('regress_pz_tap_app', 'recommendation',
                    'SELECT subject_id || '':'' || category FROM personalize.interactions
                      WHERE subject_id BETWEEN 501 AND 503 ORDER BY 1')$$,
                  ARRAY['501:purchase_history', '501:session', '502:location', '502:purchase_history', '502:session'],
                  'the granted role sees exactly the consented rows');
SELECT results_eq($$SELECT * FROM pg_temp.as_role('regress_pz_tap_app', NULL,
                    'SELECT count(*)::text FROM personalize.interactions')$$,
                  ARRAY['0'], 'no purpose declared: no rows');
SELECT throws_ok($$SELECT * FROM pg_temp.as_role('regress_pz_tap_none', 'recommendation', 'SELECT 1::text')$$,
                 '42501', NULL, 'declaring an ungranted purpose is refused');
SELECT throws_ok($$SELECT * FROM pg_temp.as_role('regress_pz_tap_app', 'nonexistent', 'SELECT 1::text')$$,
                 '42704', NULL, 'declaring an unknown purpose is refused');
SELECT throws_ok($$SELECT * FROM pg_temp.as_role('regress_pz_tap_app', 'Not Valid', 'SELECT 1::text')$$,
                 '42602', NULL, 'declaring a malformed purpose is refused');
SELECT throws_ok($$SELECT * FROM pg_temp.as_role('regress_pz_tap_app', 'pricing',
                   'SELECT count(*)::text FROM personalize.interactions')$$,
                 '42501', 'purpose "pricing" may not read personal data', 'reading under pricing is refused');
-- declared by the granted role, read by another: refused
SELECT throws_ok($$SELECT * FROM pg_temp.as_role('regress_pz_tap_app', 'recommendation',
                   'SELECT x FROM pg_temp.as_role(''regress_pz_tap_none'', NULL,
                      ''SELECT count(*)::text FROM personalize.interactions'') x')$$,
                 '42501', NULL, 'SET ROLE after declaring: the reading role needs the grant');
SELECT throws_ok($$SELECT * FROM pg_temp.as_role('regress_pz_tap_app', NULL, 'SELECT count(*)::text FROM personalize.consents')$$,
                 '42501', NULL, 'the app role cannot read consents');
SELECT throws_ok($$SELECT * FROM pg_temp.as_role('regress_pz_tap_app', NULL,
                   'SELECT personalize.set_consent(503, ''recommendation'', ''enhanced'')::text')$$,
                 '42501', NULL, 'the app role cannot record consent');
SELECT throws_ok($$UPDATE personalize.consent_ledger SET source = 'x' WHERE subject_id = 501$$,
                 '42501', 'the consent ledger is append-only', 'even a superuser cannot UPDATE the ledger');
SELECT throws_ok($$DELETE FROM personalize.consent_ledger WHERE subject_id = 501$$,
                 '42501', 'the consent ledger is append-only', 'even a superuser cannot DELETE from the ledger');
SELECT throws_ok($$TRUNCATE personalize.consent_ledger$$,
                 '42501', 'the consent ledger is append-only', 'even a superuser cannot TRUNCATE the ledger');
-- a withdrawal is visible to the next statement
SELECT lives_ok($$SELECT personalize.withdraw_consent(502, 'recommendation')$$, 'withdraw 502');
SELECT results_eq($$SELECT * FROM pg_temp.as_role('regress_pz_tap_app', 'recommendation',
                    'SELECT count(*)::text FROM personalize.interactions WHERE subject_id BETWEEN 501 AND 503')$$,
                  ARRAY['2'], 'after withdrawal only 501''s two rows remain');
SELECT is(consent_of(502, 'recommendation')::text, 'none', 'a withdrawal records none');
SELECT is(consent_of(503, 'recommendation'), NULL, 'no consent recorded: NULL');
SELECT throws_ok($$SELECT 'personalization+Location'::personalize.consent$$, '22P02', NULL,
                 'malformed consent text is refused');
SELECT throws_ok($$SELECT personalize.set_consent(501, 'recommendation', 'enhanced', '{no_such_category}')$$,
                 '42704', 'signal category "no_such_category" does not exist', 'unknown categories are refused');

SELECT * FROM finish();
ROLLBACK;
