# pg_dump and pg_restore: a database with consents, interactions, a
# protected application table, models, impressions, feedback and jobs is
# dumped (custom format restored with pg_restore, plain format restored with
# psql) into new databases, where every row is back, the numbering carries
# on where it stopped (no duplicate keys in set_consent(), track(),
# train(), recommend(), feedback() or job runs), row-level security filters
# as before, the ledger is still append-only and the extension's catalogue
# is the one that was dumped.
use strict;
use warnings;
use File::Spec;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('dump');
$node->init;
# no background jobs: they would write to the databases being compared
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'personalize'\npersonalize.databases = ''");
$node->start;

my $gen = File::Spec->rel2abs('test/gen/generate.sql');
my $fingerprint_sql = slurp_file('test/sql/catalog_fingerprint.sql');

$node->safe_psql('postgres', q{
	CREATE ROLE app LOGIN;
	CREATE ROLE other LOGIN;
	CREATE DATABASE src;
});
$node->safe_psql('src', q{
	CREATE EXTENSION personalize;
	SELECT personalize.grant_purpose('app', 'recommendation');
	GRANT INSERT (subject_id, item_id, category, kind, weight, occurred_at) ON personalize.interactions TO app;
	GRANT EXECUTE ON FUNCTION personalize.track(bigint, bigint, text, text, real, timestamptz) TO app;
});
$node->command_ok(
	[ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-v', 'subjects=200', '-v', 'items=150',
	  '-v', 'interactions=4000', '-v', 'check=false',
	  '-d', $node->connstr('src'), '-f', $gen ],
	'synthetic data loaded');

# What an administrator adds on top of the built-in rows, and what the
# functions record: each of these lands in a dumped table.
$node->safe_psql('src', q{
	INSERT INTO personalize.signal_categories (name, tier, justification, retention)
	VALUES ('wishlist', 2, 'Items saved for later, used to recommend related items.', '1 year');
	INSERT INTO personalize.interaction_kinds (kind, weight) VALUES ('share', 4);
	-- built-in rows as an administrator tunes them: these changes must survive
	UPDATE personalize.interaction_kinds SET weight = 8 WHERE kind = 'purchase';
	UPDATE personalize.signal_categories SET retention = '30 days', justification = NULL WHERE name = 'demographic';
	UPDATE personalize.purposes SET max_tier = 'personalization' WHERE name = 'marketing';
	SELECT personalize.create_purpose('marketing.email', 'Newsletters', 'personalization',
	                                  decides_terms => false, inherit => true);
	SELECT personalize.set_consent(s, 'recommendation', 'enhanced', '{wishlist}', source => 'banner')
	  FROM generate_series(1, 20) s;
	SELECT personalize.set_consent(s, 'marketing', 'personalization') FROM generate_series(1, 5) s;
	SELECT personalize.withdraw_consent(3, 'marketing');
	SELECT personalize.track(s, 1 + s % 50, 'wishlist', 'share') FROM generate_series(1, 20) s;
	CREATE SCHEMA shop;
	CREATE TABLE shop.events (user_id bigint, day date, what text) PARTITION BY RANGE (day);
	CREATE TABLE shop.events_2025 PARTITION OF shop.events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
	GRANT USAGE ON SCHEMA shop TO app;
	GRANT SELECT ON shop.events, shop.events_2025 TO app;
	INSERT INTO shop.events SELECT s, '2025-06-01', 'view' FROM generate_series(1, 300) s;
	SELECT personalize.protect('shop.events', 'user_id', 'browsing_history');
	SELECT personalize.train('popularity', activate => 'always');
	SELECT personalize.train('als', factors => 8, iterations => 3, activate => 'always');
	-- a purpose whose models must be private, and what one spent of its budget
	SELECT personalize.create_purpose('recommendation.private', 'Private recommendations', 'personalization',
	                                  decides_terms => false, inherit => true);
	SELECT personalize.set_privacy_budget('recommendation.private', 8);
	SELECT personalize.train('popularity', 'recommendation.private', dp_epsilon => 2);
	SELECT personalize.schedule_job('nightly', 'retention', '1 day', '{"impressions": "30 days"}');
	SELECT personalize.alter_job('retrain', enabled => false);
	-- a row past its retention for the retention job to purge (and log)
	SELECT personalize.track(1, 1, 'session', occurred_at => now() - interval '2 days');
	SELECT status FROM personalize.run_job('retention');
	INSERT INTO personalize.alerts (kind, message) VALUES ('restore_check', 'an alert raised before the dump');
	SELECT personalize.track(1, 1, 'session');
	-- an erasure: logged under a keyed hash, models marked
	SELECT personalize.erase_subject(19);
});
$node->safe_psql('src', q{
	SET personalize.purpose = 'recommendation';
	SELECT count(*) FROM generate_series(1, 30) s, personalize.recommend(s, k => 5) r},
	extra_params => [ '-U', 'app' ]);
$node->safe_psql('src', q{SELECT personalize.feedback(s, 1 + s % 50) FROM generate_series(1, 10) s});

# Every row of every table of the extension, as a digest per table; the
# state of every sequence; and what the application role sees.
my $tables_sql = q{
	SELECT string_agg(c.relname, ' ' ORDER BY c.relname) FROM pg_class c
	 WHERE c.relnamespace = 'personalize'::regnamespace AND c.relkind = 'r'};
my @tables = split / /, $node->safe_psql('src', $tables_sql);
ok(@tables >= 18, 'the extension has its tables (' . scalar(@tables) . ')');

sub digest
{
	my ($db) = @_;
	# CREATE EXTENSION, not the dump, writes the built-in row of
	# protected_tables: it is protected as of the restore.  The counters of
	# serving_versions are one server's history (not dumped): only the rows.
	my $sql = join("\nUNION ALL\n", map {
		"SELECT '$_' || ' ' || count(*) || ' ' || coalesce(md5(string_agg(r, '|' ORDER BY r)), '-')
		   FROM (SELECT CASE WHEN '$_' = 'protected_tables' AND (to_jsonb(t) ->> 'builtin')::boolean
		                     THEN (to_jsonb(t) - 'protected_at')::text
		                     WHEN '$_' = 'serving_versions' THEN to_jsonb(t) ->> 'slot'
		                     ELSE t::text END AS r
		           FROM personalize.$_ t) s"
	} @tables);
	return $node->safe_psql($db, "$sql ORDER BY 1");
}

sub sequences
{
	my ($db) = @_;
	return $node->safe_psql($db, q{
		SELECT string_agg(sequencename || '=' || coalesce(last_value::text, 'unused'), ' ' ORDER BY sequencename)
		  FROM pg_sequences WHERE schemaname = 'personalize'});
}

sub as_app
{
	my ($db, $sql) = @_;
	return $node->psql($db, "SET personalize.purpose = 'recommendation'; $sql",
		extra_params => [ '-U', 'app' ]);
}

# the result of the last statement of several
sub last_result
{
	my ($db, $sql, @params) = @_;
	my @lines = split /\n/, $node->safe_psql($db, $sql, @params);
	return $lines[-1];
}

my $seen_sql = q{SELECT (SELECT count(*) FROM personalize.interactions) || ' '
	|| (SELECT count(*) FROM shop.events) || ' ' || (SELECT count(*) FROM shop.events_2025)};
my %source = (
	digest => digest('src'),
	sequences => sequences('src'),
	fingerprint => $node->safe_psql('src', $fingerprint_sql),
	seen => (as_app('src', $seen_sql))[1],
	max => $node->safe_psql('src', q{
		SELECT (SELECT max(entry_id) FROM personalize.consent_ledger) || ' '
		    || (SELECT max(interaction_id) FROM personalize.interactions) || ' '
		    || (SELECT max(model_id) FROM personalize.models) || ' '
		    || (SELECT max(impression_id) FROM personalize.impressions) || ' '
		    || (SELECT max(feedback_id) FROM personalize.feedback) || ' '
		    || (SELECT max(run_id) FROM personalize.job_runs)}));
like($source{sequences}, qr/^(\S+=\d+ ){9}\S+=\d+$/, 'every identity sequence of the source was used');
like($source{seen}, qr/^[1-9]\d* [1-9]\d* [1-9]\d*$/, 'the app sees some consented rows in the source');

my $tmp = PostgreSQL::Test::Utils::tempdir;
my $custom = "$tmp/src.dump";
my $plain = "$tmp/src.sql";
$node->command_ok([ 'pg_dump', '-Fc', '-f', $custom, '-d', $node->connstr('src') ], 'pg_dump -Fc');
$node->command_ok([ 'pg_dump', '-Fp', '-f', $plain, '-d', $node->connstr('src') ], 'pg_dump -Fp');

$node->safe_psql('postgres', 'CREATE DATABASE restored_custom');
$node->safe_psql('postgres', 'CREATE DATABASE restored_plain');
command_checks_all(
	[ 'pg_restore', '--exit-on-error', '-d', $node->connstr('restored_custom'), $custom ],
	0, [qr/^$/], [qr/^$/], 'pg_restore restores the custom-format dump without a message');
command_checks_all(
	[ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('restored_plain'), '-f', $plain ],
	0, [qr//], [qr/^$/], 'psql restores the plain dump without an error, warning or notice');

foreach my $db ('restored_custom', 'restored_plain')
{
	is(digest($db), $source{digest}, "$db: every row of every table is back, and no other");
	is(sequences($db), $source{sequences}, "$db: every identity sequence carries on where it stopped");
	is($node->safe_psql($db, $fingerprint_sql), $source{fingerprint},
		"$db: the extension's catalogue is the one dumped");

	# row-level security and the purpose grants
	is((as_app($db, $seen_sql))[1], $source{seen},
		"$db: the app sees exactly the consented rows it saw before, protected partition included");
	is((as_app($db, q{RESET personalize.purpose; SELECT count(*) FROM personalize.interactions}))[1], '0',
		"$db: without a purpose the app sees nothing");
	my ($rc, $out, $err) = as_app($db, 'SELECT count(*) FROM personalize.consents');
	like($err, qr/permission denied/, "$db: the app still cannot read consents");
	($rc, $out, $err) = $node->psql($db, q{SET personalize.purpose = 'recommendation'},
		extra_params => [ '-U', 'other' ]);
	like($err, qr/may not declare purpose "recommendation"/, "$db: a role without the grant still cannot declare it");
	is($node->safe_psql($db, q{SELECT string_agg(relid::text || ':' || coalesce(inherited_from::text, '-'), ' ' ORDER BY relid::text)
		FROM personalize.protected_tables WHERE NOT builtin}),
		'shop.events:- shop.events_2025:shop.events', "$db: the protected tables are listed once");

	# the ledger is append-only, replication role or not
	foreach my $stmt ('UPDATE personalize.consent_ledger SET source = NULL',
		'DELETE FROM personalize.consent_ledger', 'TRUNCATE personalize.consent_ledger',
		'SET session_replication_role = replica; DELETE FROM personalize.consent_ledger')
	{
		($rc, $out, $err) = $node->psql($db, $stmt);
		like($err, qr/the consent ledger is append-only/, "$db: refused: $stmt");
	}

	# everything that numbers rows works, and numbers after the source
	my @max = split / /, $source{max};
	is(last_result($db, q{
		SELECT personalize.set_consent(900, 'recommendation', 'personalization');
		SELECT personalize.set_consent(s, 'marketing.email', 'personalization') FROM generate_series(1, 3) s;
		SELECT max(entry_id) FROM personalize.consent_ledger}), $max[0] + 4,
		"$db: set_consent() records new ledger entries");
	is(last_result($db, q{SET personalize.purpose = 'recommendation';
		SELECT personalize.track(900, 1, 'browsing_history');
		SELECT max(interaction_id) FROM personalize.interactions WHERE subject_id = 900},
		extra_params => [ '-U', 'app' ]), $max[1] + 1,
		"$db: track() by the app records a new interaction, visible to it under the new consent");
	my $model = $node->safe_psql($db, q{SELECT personalize.train('als', factors => 8, iterations => 3, activate => 'always')});
	is($model, $max[2] + 1, "$db: train() stores a new model version");
	is($node->safe_psql($db, q{SELECT model_id FROM personalize.models WHERE status = 'active' AND purpose = 'recommendation'}),
		$model, "$db: and activates it");
	is((as_app($db, q{SELECT count(*) || ' ' || count(*) FILTER (WHERE reason LIKE 'Because%')
		FROM personalize.recommend(1, k => 10, exploration => 0)}))[1], '10 10',
		"$db: recommend() serves a personalized list from it");
	is($node->safe_psql($db, q{SELECT min(impression_id) FROM personalize.impressions WHERE model_id = } . $model),
		$max[3] + 1, "$db: recommend() logs new impressions");
	is(last_result($db, q{
		SELECT personalize.train('popularity', 'recommendation.private', dp_epsilon => 5) IS NOT NULL;
		SELECT epsilon_spent || ' ' || epsilon_remaining || ' ' || models FROM personalize.privacy_budget}),
		'7 1 2', "$db: the privacy budget carries on where it stopped");
	like(($node->psql($db, q{SELECT personalize.train('popularity', 'recommendation.private', dp_epsilon => 2)}))[2],
		qr/would exceed the privacy budget/, "$db: and refuses to overspend");
	is(last_result($db, q{SELECT personalize.feedback(1, 1); SELECT max(feedback_id) FROM personalize.feedback}),
		$max[4] + 1, "$db: feedback() records new feedback");
	is(last_result($db, q{SELECT status FROM personalize.run_job('nightly'); SELECT max(run_id) FROM personalize.job_runs}),
		$max[5] + 1, "$db: a job run is recorded after the restored ones");

	# what was built in stays built in, once; what was added is there
	is($node->safe_psql($db, q{
		SELECT (SELECT count(*) FROM personalize.signal_categories) || ' '
		    || (SELECT count(*) FROM personalize.interaction_kinds) || ' '
		    || (SELECT count(*) FROM personalize.purposes) || ' '
		    || (SELECT string_agg(job_name || ':' || enabled, ' ' ORDER BY job_name) FROM personalize.jobs)}),
		'8 7 7 drift:true nightly:true retention:true retrain:false',
		"$db: built-in rows once, added ones too, and a disabled built-in job stays disabled");
	is($node->safe_psql($db, q{
		SELECT (SELECT weight FROM personalize.interaction_kinds WHERE kind = 'purchase') || ' '
		    || (SELECT retention || ' ' || coalesce(justification, 'unjustified')
		          FROM personalize.signal_categories WHERE name = 'demographic') || ' '
		    || (SELECT max_tier FROM personalize.purposes WHERE name = 'marketing')}),
		'8 30 days unjustified personalization', "$db: what was changed in built-in rows is kept");
}

$node->stop;
done_testing();
