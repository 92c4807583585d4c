# Erasure as an auditor would check it: a subject spread over the
# extension's tables and over protected application tables (a partitioned
# one, one referenced by another, integer and bigint subject columns, their
# id inside jsonb and arrays, free text quoting it, planner statistics that
# name it), trained into models, shown recommendations.  After
# erase_subject(), a scan of every column of every table of the database,
# system catalogues included, cast to text, finds the id nowhere; the
# export before it held the application rows; the keyed hash stands for the
# subject in the ledger and the log.  Also: a training that is under way
# when the erasure starts is waited for and marked, and the retrain job
# replaces it.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib 't';
use PzSession;

my $node = PostgreSQL::Test::Cluster->new('rights');
$node->init;
# no background jobs: the test runs the retrain job itself
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'personalize'\npersonalize.databases = ''");
$node->start;

my $id = 912345678;      # fits an integer column too
my $other = 912345677;

$node->safe_psql('postgres', qq{
	CREATE EXTENSION personalize;
	CREATE ROLE app LOGIN;
	CREATE ROLE dpo LOGIN;
	GRANT USAGE ON SCHEMA personalize TO dpo;
	GRANT EXECUTE ON FUNCTION personalize.erase_subject(bigint), personalize.export_subject(bigint) TO dpo;
	SELECT personalize.grant_purpose('app', 'recommendation');
	INSERT INTO personalize.items (item_id, category, attributes)
	SELECT i, 'c' || (i % 4), jsonb_build_object('name', 'Item ' || i) FROM generate_series(1, 40) i;
	-- 60 subjects and the two of the test, the erased one with its id in the
	-- ledger's free text
	SELECT count(*) FROM (SELECT personalize.set_consent(s, 'recommendation', 'personalization')
	                        FROM generate_series(1, 60) s) c;
	SELECT personalize.set_consent($other, 'recommendation', 'personalization', source => 'web');
	SELECT personalize.set_consent($id, 'recommendation', 'personalization', source => 'web, user $id');
	SELECT personalize.set_consent($id, 'recommendation', 'enhanced', '{location}',
	                               source => 'app: customer $id', notice_version => '$id/v2');
	SELECT personalize.set_consent($id, 'marketing', 'personalization', source => 'newsletter form');
	-- interactions: many of the erased subject's, so that statistics list it
	INSERT INTO personalize.interactions (subject_id, item_id, category, kind, occurred_at)
	SELECT s, 1 + (s * 7 + k * 3) % 40, CASE WHEN k % 5 = 0 THEN 'purchase_history' ELSE 'browsing_history' END,
	       CASE WHEN k % 5 = 0 THEN 'purchase' ELSE 'view' END, now() - k * interval '1 hour'
	  FROM generate_series(1, 60) s, generate_series(1, 20) k;
	INSERT INTO personalize.interactions (subject_id, item_id, category, kind, occurred_at)
	SELECT $id, 1 + (k * 11) % 20, (ARRAY['browsing_history', 'purchase_history', 'location', 'session'])[1 + k % 4],
	       'view', now() - k * interval '1 minute'
	  FROM generate_series(1, 400) k;
	INSERT INTO personalize.interactions (subject_id, item_id, category) VALUES ($other, 3, 'browsing_history');

	CREATE SCHEMA shop;
	GRANT USAGE ON SCHEMA shop TO app;
	CREATE TABLE shop.orders (
		order_id   serial PRIMARY KEY,
		customer   bigint NOT NULL,
		placed_at  timestamptz NOT NULL DEFAULT now(),
		details    jsonb,
		items      bigint[]
	);
	CREATE TABLE shop.order_notes (
		order_id   int REFERENCES shop.orders,
		customer   bigint,
		note       text
	);
	CREATE TABLE shop.events (
		user_id    bigint,
		day        date,
		cat        text,
		payload    jsonb
	) PARTITION BY RANGE (day);
	CREATE TABLE shop.events_old PARTITION OF shop.events FOR VALUES FROM ('2000-01-01') TO ('2025-01-01');
	CREATE TABLE shop.events_new PARTITION OF shop.events FOR VALUES FROM ('2025-01-01') TO ('2100-01-01');
	CREATE TABLE shop.likes (
		customer   integer,
		product    bigint,
		tags       text[],
		UNIQUE (customer, product)
	);
	CREATE TABLE shop.profile (
		customer   bigint PRIMARY KEY,
		nickname   text,
		meta       jsonb,
		scores     numeric[]
	);
	GRANT SELECT ON ALL TABLES IN SCHEMA shop TO app;
	INSERT INTO shop.orders (customer, details, items) VALUES
		($id, '{"gift": {"for": "$id", "ids": [$id, 7]}}', ARRAY[$id, 5]),
		($id, '{"customer_number": $id}', ARRAY[1, 2]),
		($other, '{"gift": false}', ARRAY[3]);
	INSERT INTO shop.order_notes VALUES (1, $id, 'call customer $id before delivery'), (3, $other, 'none');
	INSERT INTO shop.events SELECT s, current_date - (s % 30), 'browsing_history', jsonb_build_object('s', s)
	  FROM generate_series(1, 60) s;
	INSERT INTO shop.events VALUES ($id, current_date, 'location', '{"lat": 1}'),
		($id, current_date - 1, 'browsing_history', '{"ref": "$id"}'),
		($id, '2020-03-01', 'browsing_history', NULL);
	INSERT INTO shop.likes VALUES ($id, 4, ARRAY['fan of $id']), ($other, 4, NULL);
	INSERT INTO shop.profile VALUES ($id, 'nick', '{"aliases": ["u$id", $id]}', ARRAY[$id, 0.5]);
	SET client_min_messages = error;
	SELECT personalize.protect('shop.orders', 'customer', 'purchase_history', time_column => 'placed_at');
	SELECT personalize.protect('shop.order_notes', 'customer', 'purchase_history');
	SELECT personalize.protect('shop.events', 'user_id', 'cat', time_column => 'day');
	SELECT personalize.protect('shop.likes', 'customer', 'preferences');
	SELECT personalize.protect('shop.profile', 'customer', 'demographic');
	ANALYZE;
});
like($node->safe_psql('postgres', qq{
	SELECT most_common_vals::text FROM pg_stats WHERE schemaname = 'personalize'
	   AND tablename = 'interactions' AND attname = 'subject_id'}),
	qr/\b$id\b/, 'the planner statistics of interactions list the subject');

$node->safe_psql('postgres', q{
	SELECT personalize.train('popularity', activate => 'always');
	SELECT personalize.train('als', factors => 4, iterations => 3, seed => 1, activate => 'always');
	SELECT personalize.train('itemknn', neighbors => 5, activate => 'never');
});
$node->safe_psql('postgres', qq{
	SET personalize.purpose = 'recommendation';
	SELECT count(*) FROM personalize.recommend($id, k => 5, exploration => 0);
	SELECT count(*) FROM personalize.recommend($other, k => 5, exploration => 0);
	SELECT personalize.feedback($id, 4);
	SELECT personalize.feedback($id, 5, reward => 0.5);
}, extra_params => [ '-U', 'app' ]);

# What the scan looks for: the id as a whole number anywhere in a value's
# text (digits on either side make another number).
my $scan_sql = q{
	CREATE FUNCTION pg_temp.occurrences(needle text) RETURNS TABLE (tbl text, col text, n bigint)
	LANGUAGE plpgsql AS $$
	DECLARE
		c record;
	BEGIN
		FOR c IN SELECT a.attrelid::regclass AS rel, a.attname
		           FROM pg_attribute a JOIN pg_class r ON r.oid = a.attrelid
		          WHERE r.relkind IN ('r', 'p', 'm') AND a.attnum > 0 AND NOT a.attisdropped
		            AND r.relnamespace <> 'pg_toast'::regnamespace
		            AND r.relpersistence <> 't'
		          ORDER BY 1, 2 LOOP
			tbl := c.rel::text;
			col := c.attname;
			EXECUTE format('SELECT count(*) FROM ONLY %s t WHERE t.%I::text ~ $1', c.rel, c.attname)
			   INTO n USING '(^|[^0-9])' || needle || '([^0-9]|$)';
			IF n > 0 THEN
				RETURN NEXT;
			END IF;
		END LOOP;
	END $$;
};
sub occurrences
{
	my ($needle) = @_;
	return $node->safe_psql('postgres',
		$scan_sql . "SELECT string_agg(tbl || '.' || col || '=' || n, ' ' ORDER BY tbl, col) FROM pg_temp.occurrences('$needle')");
}

my $before = occurrences($id);
for my $where ('consent_ledger.subject_id', 'consent_ledger.source', 'consent_ledger.notice_version', 'consents.subject_id',
	'interactions.subject_id', 'impressions.subject_id', 'feedback.subject_id', 'shop.orders.details',
	'shop.orders.items', 'shop.order_notes.note', 'shop.events_new.user_id', 'shop.events_new.payload',
	'shop.events_old.user_id', 'shop.likes.customer', 'shop.likes.tags', 'shop.profile.meta',
	'shop.profile.scores', 'pg_statistic.stavalues1')
{
	like($before, qr/(^| )(personalize\.)?\Q$where\E=/, "before: the id is in $where");
}

# The export holds the application's rows, except those past retention.
my $export = $node->safe_psql('postgres', qq{
	SELECT string_agg(a ->> 'table' || ':' || jsonb_array_length(a -> 'rows'), ' ' ORDER BY a ->> 'table')
	  FROM jsonb_array_elements(personalize.export_subject($id) -> 'application_data') a},
	extra_params => [ '-U', 'dpo' ]);
is($export, 'shop.events:2 shop.likes:1 shop.order_notes:1 shop.orders:2 shop.profile:1',
	'the export holds the rows of every protected table (the 2020 event is past retention)');

# A training under way when the erasure starts: the erasure waits for it,
# then marks it too.
my $trainer = open_session($node, $node->safe_psql('postgres', 'SELECT current_user'));
run_q($trainer, 'BEGIN');
my $pending = run_q($trainer, q{SELECT personalize.train('popularity', activate => 'always')});
like($pending, qr/^\d+$/, 'a training waits uncommitted');
my $eraser = open_session($node, 'dpo');
my $pid = run_q($eraser, 'SELECT pg_backend_pid()');
$eraser->query_until(qr/erasing/, "\\echo erasing\nSELECT personalize.erase_subject($id);\n");
ok($node->poll_query_until('postgres',
		"SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $pid"),
	'the erasure waits for the training');
run_q($trainer, 'COMMIT');
my $result = run_q($eraser, 'SELECT 1');
like($result, qr/"models_marked": \[[^\]]*\b$pending\b/, 'the training that was under way is marked');
like($result, qr/"statistics_refreshed": \[[^\]]*personalize\.interactions/, 'statistics naming the id were refreshed');
$trainer->quit;
$eraser->quit;

is(occurrences($id), '', 'after the erasure the id is in no column of any table of the database');
like(occurrences($other), qr/personalize\.interactions\.subject_id=1/, 'the scan finds a subject that was not erased');
is($node->safe_psql('postgres', qq{
	SELECT count(*) FROM personalize.consent_ledger WHERE subject_key = personalize.subject_key($id)}),
	'3', 'the ledger keeps its three entries under the keyed hash');
is($node->safe_psql('postgres', q{SELECT count(*) FROM personalize.erasure_log}), '1', 'one erasure logged');

# The retrain job replaces the active model at once (the erasure made it due).
is($node->safe_psql('postgres', q{SELECT next_run <= now() FROM personalize.jobs WHERE job_name = 'retrain'}),
	't', 'the retrain job is due');
is($node->safe_psql('postgres', q{SELECT status || ' ' || (result ->> 'reason') FROM personalize.run_jobs() WHERE job_name = 'retrain'}),
	'succeeded erasure', 'the retrain job retrained for the erasure');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM personalize.models m
	 WHERE EXISTS (SELECT 1 FROM personalize.model_erasures e WHERE e.model_id = m.model_id)
	   AND (m.status = 'active'
	        OR EXISTS (SELECT 1 FROM personalize.model_item_factors f WHERE f.model_id = m.model_id)
	        OR EXISTS (SELECT 1 FROM personalize.model_neighbors f WHERE f.model_id = m.model_id)
	        OR EXISTS (SELECT 1 FROM personalize.model_popularity f WHERE f.model_id = m.model_id))}),
	'0', 'no model that may have learned from the subject serves or can be activated');
is($node->safe_psql('postgres', q{SELECT count(*) FROM personalize.erasure_log WHERE models_still_serving <> '{}'}),
	'0', 'the erasure log says no marked model serves any more');
is(occurrences($id), '', 'and the id is still nowhere');

$node->stop;
done_testing();
