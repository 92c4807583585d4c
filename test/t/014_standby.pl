# Serving from a hot standby fed by streaming replication: train on the
# primary, serve on the standby (reasons, explain, model card, audit views),
# no impression logged and no worker running there, and changes made on the
# primary (a withdrawal, an activation, a sponsored flag) reaching the
# standby's next call in a session that has already served, once replayed.
# Row-level security and purpose grants hold on the standby as on the
# primary.  Every wait is a bounded poll.
use strict;
use warnings;
use File::Spec;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'personalize'
personalize.databases = 'app'
personalize.scheduler_naptime = '1s'
});
$primary->start;

$primary->safe_psql('postgres', 'CREATE DATABASE app');
$primary->safe_psql('app', q{
	CREATE EXTENSION personalize;
	CREATE ROLE app LOGIN;
	CREATE ROLE other LOGIN;
	SELECT personalize.grant_purpose('app', 'recommendation');
});
my $gen = File::Spec->rel2abs('test/gen/generate.sql');
$primary->command_ok(
	[ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-v', 'subjects=300', '-v', 'items=200',
	  '-v', 'interactions=8000', '-d', $primary->connstr('app'), '-f', $gen ],
	'synthetic data loaded on the primary');
my $als = $primary->safe_psql('app',
	q{SELECT personalize.train('als', factors => 8, iterations => 5, seed => 1, activate => 'always')});
ok($primary->poll_query_until('postgres', q{SELECT count(*) FROM pg_stat_activity
	WHERE backend_type = 'personalize scheduler' AND datname = 'app'}, '1'),
	'the primary runs a scheduler for app');

$primary->backup('b1');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'b1', has_streaming => 1);
$standby->start;
$primary->wait_for_catchup($standby);
is($standby->safe_psql('app', 'SELECT pg_is_in_recovery()'), 't', 'the standby is in recovery');

# ---- serving on the standby ----

my $subject = $primary->safe_psql('app', q{
	SELECT subject_id FROM personalize.consents
	 WHERE purpose = 'recommendation' AND personalize.tier(consent) = 'personalization'
	 ORDER BY subject_id LIMIT 1});
my $impressions = q{SELECT count(*) FROM personalize.impressions};
my $before = $primary->safe_psql('app', $impressions);

my $app = $standby->background_psql('app', on_error_stop => 0, extra_params => [ '-U', 'app' ]);
my $reasons = qq{SELECT string_agg(DISTINCT split_part(reason, ' ', 1), ',' ORDER BY split_part(reason, ' ', 1))
	FROM personalize.recommend($subject, exploration => 0) WHERE NOT sponsored};
is($app->query($reasons), 'Because', 'the standby serves a personalized list with reasons');
is($app->query(qq{SELECT count(*) FROM personalize.recommend($subject, k => 7)}), '7',
	'a full list, exploration included');
my $top = $app->query(qq{SELECT item_id FROM personalize.recommend($subject, k => 1, exploration => 0)});
is($app->query(qq{SELECT count(*) > 0 AND bool_and(source <> 'popularity' AND history_item IS NOT NULL)
	FROM personalize.explain($subject, $top)}), 't', 'explain() on the standby');
is($standby->safe_psql('app', qq{SELECT personalize.model_card($als) ->> 'algorithm'}), 'als',
	'model_card() on the standby');
is($standby->safe_psql('app', qq{SELECT count(*) FROM personalize.model_cards WHERE model_id = $als}), '1',
	'the model_cards view on the standby');
cmp_ok($standby->safe_psql('app', q{SELECT count(*) FROM personalize.consent_history}), '>', 0,
	'the consent_history audit view on the standby');
is($standby->safe_psql('app', qq{SELECT personalize.subject_factors($als, $subject) IS NOT NULL}), 't',
	'subject_factors() on the standby');
is($standby->safe_psql('app', q{SELECT count(*) FROM personalize.serving_snapshots()}), '1',
	'one shared snapshot on the standby');

# Nothing is logged there, and nothing it served reaches the primary.
is($standby->safe_psql('app', $impressions), $before, 'no impression row on the standby');
$primary->safe_psql('app', 'CHECKPOINT');
$primary->wait_for_catchup($standby);
is($primary->safe_psql('app', $impressions), $before, 'nor on the primary');
cmp_ok($standby->safe_psql('app', q{SELECT sum(shown) FROM personalize.bandit_arms('recommendation')}),
	'>', 0, 'the standby counts what it showed in its own shared memory');

# Writes are refused with the standard SQLSTATE, never half done.
my ($ret, $out, $err) = $standby->psql('app', qq{SELECT personalize.track($subject, 1, 'browsing_history')});
like($err, qr/read-only transaction/, 'track() is refused on the standby');
($ret, $out, $err) = $standby->psql('app', qq{SELECT personalize.export_subject($subject)});
like($err, qr/read-only transaction/, 'export_subject() is refused on the standby (the export would go unlogged)');

# ---- no worker on the standby ----
is($standby->safe_psql('postgres',
	q{SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE 'personalize%'}), '0',
	'no personalize worker runs on the standby');
is($standby->safe_psql('app', 'SELECT count(*) FROM personalize.worker_status()'), '0',
	'and worker_status() lists none');
is($standby->safe_psql('app', q{SELECT count(*) FROM personalize.training_progress}), '0',
	'and no training is in progress there');

# ---- row-level security and purposes on the standby ----
is($standby->safe_psql('app', q{SELECT count(*) FROM personalize.interactions}, extra_params => [ '-U', 'app' ]),
	'0', 'without a declared purpose the app role sees no interaction on the standby');
cmp_ok($standby->safe_psql('app', q{SET personalize.purpose = 'recommendation';
	SELECT count(*) FROM personalize.interactions}, extra_params => [ '-U', 'app' ]),
	'>', 0, 'under its purpose it sees consented rows');
is($standby->safe_psql('app', q{SET personalize.purpose = 'recommendation';
	SELECT count(*) FROM personalize.interactions i
	 WHERE NOT personalize.row_visible(i.subject_id, i.category)}, extra_params => [ '-U', 'app' ]),
	'0', 'and only those');
($ret, $out, $err) = $standby->psql('app', q{SET ROLE other; SET personalize.purpose = 'recommendation'});
like($err, qr/may not declare purpose/, 'a role without the grant cannot declare the purpose on the standby');
($ret, $out, $err) = $standby->psql('app', qq{SET ROLE other; SELECT * FROM personalize.recommend($subject)});
isnt($ret, 0, 'nor call recommend() for it');

# ---- changes on the primary reach the standby's next call ----

my $reader = $standby->background_psql('app', on_error_stop => 0, extra_params => [ '-U', 'app' ]);
$reader->query_safe(q{SET personalize.purpose = 'recommendation'});
cmp_ok($reader->query(qq{SELECT count(*) FROM personalize.interactions WHERE subject_id = $subject}),
	'>', 0, 'a session of the app role reads the subject\'s interactions on the standby');

# A withdrawal: the next call of the session that already served is not
# personalized, once the withdrawal is replayed.
$primary->safe_psql('app', "SELECT personalize.withdraw_consent($subject, 'recommendation')");
$primary->wait_for_catchup($standby);
is($app->query($reasons), 'Popular', 'after a withdrawal on the primary, the standby\'s next call is not personalized');
is($reader->query(qq{SELECT count(*) FROM personalize.interactions WHERE subject_id = $subject}),
	'0', 'and their interactions are hidden from a session of the app role that had read them');
$primary->safe_psql('app', "SELECT personalize.set_consent($subject, 'recommendation', 'personalization')");
$primary->wait_for_catchup($standby);
is($app->query($reasons), 'Because', 'a new consent personalizes again');
cmp_ok($reader->query(qq{SELECT count(*) FROM personalize.interactions WHERE subject_id = $subject}),
	'>', 0, 'and shows their interactions again');
$reader->quit;

# A sponsored flag: the catalogue in the standby's snapshot is replaced.
$primary->safe_psql('app', "UPDATE personalize.items SET sponsored = true WHERE item_id = $top");
$primary->wait_for_catchup($standby);
like($app->query(qq{SELECT reason FROM personalize.recommend($subject, k => 10, exploration => 0, sponsored_share => 1)
	WHERE item_id = $top}), qr/^Sponsored: /, 'a sponsored flag set on the primary is disclosed on the standby\'s next call');

# An activation: the same session serves the new model.
my $pop = $primary->safe_psql('app', q{SELECT personalize.train('popularity', activate => 'always')});
$primary->wait_for_catchup($standby);
is($app->query($reasons), 'Popular', 'a model activated on the primary serves the standby\'s next call');
is($app->query(qq{SELECT string_agg(model_id::text, ',') FROM personalize.serving_snapshots()}), $pop,
	'from a snapshot of that model only');
$primary->safe_psql('app', "SELECT personalize.activate_model($als)");
$primary->wait_for_catchup($standby);
is($app->query($reasons), 'Because', 'and a rollback to the ALS model as well');

# A change rolled back on the primary changes nothing, and a savepoint
# rolled back after a change keeps the change.
$primary->safe_psql('app', "BEGIN; UPDATE personalize.items SET sponsored = false WHERE item_id = $top; ROLLBACK;");
$primary->safe_psql('app', qq{BEGIN;
	UPDATE personalize.items SET sponsored = false WHERE item_id = $top;
	SAVEPOINT s; UPDATE personalize.items SET sponsored = true WHERE item_id = $top; ROLLBACK TO s;
	COMMIT;});
$primary->wait_for_catchup($standby);
is($app->query(qq{SELECT bool_or(sponsored) FROM personalize.recommend($subject, k => 10, exploration => 0, sponsored_share => 1)
	WHERE item_id = $top}), 'f', 'the standby follows committed changes only');
is($standby->safe_psql(q{app}, $impressions), $before, q{and still logged no impression});
$app->quit;

# The version rows cannot be written by an ordinary role.
($ret, $out, $err) = $primary->psql('app', q{UPDATE personalize.serving_versions SET catalogue = 0},
	extra_params => [ '-U', 'app' ]);
like($err, qr/permission denied/, 'serving_versions cannot be written by a role');

# ---- promoted, it logs and runs workers ----
$standby->promote;
ok($standby->poll_query_until('postgres', q{SELECT count(*) FROM pg_stat_activity
	WHERE backend_type = 'personalize scheduler' AND datname = 'app'}, '1'),
	'once promoted, the standby starts a scheduler');
my $n = $standby->safe_psql('app', $impressions);
$standby->safe_psql('app', qq{SELECT count(*) FROM personalize.recommend($subject, k => 5)});
is($standby->safe_psql('app', $impressions), $n + 5, 'and logs impressions');
$standby->safe_psql('app', "UPDATE personalize.items SET sponsored = true WHERE item_id = $top");
like($standby->safe_psql('app', qq{SELECT reason FROM personalize.recommend($subject, k => 10, exploration => 0,
	sponsored_share => 1) WHERE item_id = $top}), qr/^Sponsored: /, 'and follows its own catalogue changes');

$standby->stop;
$primary->stop;
done_testing();
