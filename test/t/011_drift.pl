# Drift monitoring where it needs a server of its own or more than one
# session: settings from postgresql.conf at start and on reload, the alert
# notification reaching a listener, two drift jobs at once (one skips what
# the other is measuring; nothing is measured or raised twice, a rolled-back
# run leaves nothing behind), and advisory locks any role can take stalling
# nothing.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use PzSession;

my $node = PostgreSQL::Test::Cluster->new('drift');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'personalize'
personalize.drift_min_impressions = 50
personalize.gini_alert_delta = 0.1
personalize.drift_period = '1d'
personalize.exploration = 0.07
});
$node->start;

# ---------------------------------------------------------------------------
# 1. Settings: postgresql.conf values hold from the start (every setting is
# defined before the prefix is reserved), for drift and serving alike, and
# a reload reaches a running session.
is($node->safe_psql('postgres', q{
	SELECT current_setting('personalize.drift_min_impressions') || ' '
	       || current_setting('personalize.gini_alert_delta') || ' '
	       || current_setting('personalize.drift_period') || ' '
	       || current_setting('personalize.exploration')}),
	'50 0.1 1d 0.07', 'settings in postgresql.conf hold from server start');
ok(!grep({ /invalid configuration parameter name "personalize\./ } split /\n/, slurp_file($node->logfile)),
	'none of them was dropped as an unknown placeholder');

$node->safe_psql('postgres', q{
	CREATE EXTENSION personalize;
	CREATE ROLE mallory LOGIN;
	CREATE ROLE watcher LOGIN;
	GRANT SELECT ON personalize.drift_snapshots, personalize.alerts TO watcher;
});
my $running = open_session($node, 'watcher');
is(run_q($running, 'SHOW personalize.drift_min_impressions'), '50', 'a running session has the value');
$node->append_conf('postgresql.conf', "personalize.drift_min_impressions = 60\n");
$node->reload;
my $seen = '';
for (my $i = 0; $i < 10 * $PostgreSQL::Test::Utils::timeout_default; $i++)
{
	$seen = run_q($running, 'SHOW personalize.drift_min_impressions');
	last if $seen eq '60';
	usleep(100_000);		# poll until the reload reaches the session
}
is($seen, '60', 'a reload reaches the running session');
like(run_q($running, 'SET personalize.drift_min_impressions = 1'), qr/permission denied to set parameter/,
	'which cannot set it itself');

# ---------------------------------------------------------------------------
# Data: 20 items in 4 categories; 30 subjects shown 10 items a day over all
# categories for 14 days from Monday 2024-01-01, their feeds narrowed to one
# category on day 9 (2024-01-10): 300 impressions a day, alerts on that day.
$node->safe_psql('postgres', q{
	INSERT INTO personalize.items (item_id, category, created_at)
	SELECT i, 'c' || ((i - 1) / 5 + 1), '2023-12-01' FROM generate_series(1, 20) i;
	INSERT INTO personalize.impressions (shown_at, subject_id, purpose, model_id, item_id, rank, score, explored, sponsored)
	SELECT timestamptz '2024-01-01 00:00+00' + d * interval '24 hours' + s * interval '1 minute' + j * interval '1 second',
	       s, 'recommendation', 1,
	       CASE WHEN d = 9 THEN (s % 4) * 5 + (s + j) % 5 + 1 ELSE (s + d + 3 * j) % 20 + 1 END,
	       j + 1, 1, false, false
	  FROM generate_series(0, 13) d, generate_series(1, 30) s, generate_series(0, 9) j;
});
my $job = q{SELECT personalize.drift_job('{"purpose": "recommendation", "until": "2024-01-15T00:00:00Z"}')};

# ---------------------------------------------------------------------------
# 2. Two jobs at once.  The first, in an open transaction, holds the
# purpose: the second skips it as busy instead of waiting.  The first rolls
# back: nothing of it remains, and the next run measures everything once.
my $first = open_session($node, $node->safe_psql('postgres', 'SELECT current_user'));
my $second = open_session($node, $node->safe_psql('postgres', 'SELECT current_user'));
run_q($_, 'SET client_min_messages = error') for ($first, $second);
run_q($first, 'BEGIN');
like(run_q($first, $job), qr/"periods": 14/, 'the first job measures 14 periods in its transaction');
like(run_q($second, $job), qr/"busy": \["recommendation"\].*"periods": 0/,
	'a second job meanwhile skips the purpose as busy, without waiting');
run_q($first, 'ROLLBACK');
is($node->safe_psql('postgres', 'SELECT count(*) FROM personalize.drift_snapshots'), '0',
	'a rolled-back run leaves no snapshot');

# 3. The notifications reach a listener when the run commits: the feeds of
# all subjects narrowed against the day before and a week before, of the
# established ones against the day before (a week before, all were new).
my $listener = open_session($node, 'watcher');
run_q($listener, 'LISTEN personalize_alerts');
like(run_q($second, $job), qr/"alerts": 3, "periods": 14/, 'the next run measures them all and raises 3 alerts');
my $heard = '';
for (my $i = 0; $i < 10 * $PostgreSQL::Test::Utils::timeout_default; $i++)
{
	$heard .= run_q($listener, 'SELECT 1');
	last if (() = $heard =~ /Asynchronous notification/g) >= 3;
	usleep(100_000);		# poll until the notifications arrive
}
my @heard = ($heard =~ /Asynchronous notification "personalize_alerts" with payload "([^\n]*)" received from server process with PID \d+\./g);
is(scalar(@heard), 3, 'the listener received one notification per alert');
like($heard[0], qr/^\{"kind": "gini_drift", "alert_id": \d+\}$/,
	'naming the alert and nothing it measured (any role may listen)');
my ($first_id) = $heard[0] =~ /"alert_id": (\d+)/;
is(run_q($listener, qq{SELECT metric || ' ' || personalize.drift_utc(period_start) FROM personalize.alerts WHERE alert_id = $first_id}),
	'feed_category_gini 2024-01-10T00:00:00Z', 'a listener allowed to read alerts looks it up');
# (the rolled-back run used up identity values: compare, do not assume)
is(run_q($listener, q{SELECT string_agg(alert_id::text, ',' ORDER BY alert_id) FROM personalize.alerts}),
	join(',', sort { $a <=> $b } map { /"alert_id": (\d+)/ ? $1 : () } @heard),
	'and the listener may read the alerts it was told of');

# 4. Once measured, nothing is measured or raised again, from any session.
like(run_q($first, $job), qr/"alerts": 0, "periods": 0/, 'running again measures nothing');
run_q($first, q{SELECT count(*) FROM personalize.drift_snapshot('recommendation', '2024-01-10 00:00+00')});
is($node->safe_psql('postgres', 'SELECT count(*) FROM personalize.alerts'), '3', 'and raises nothing twice');

# ---------------------------------------------------------------------------
# 5. Advisory locks any role can take stall nothing: mallory holds every key
# she can name, and a new day is measured.
my $mallory = open_session($node, 'mallory');
run_q($mallory, q{
	SELECT pg_advisory_lock(hashtext('personalize.drift'), hashtext('recommendation')),
	       pg_advisory_lock(x'707A6472'::int, 0), pg_advisory_lock(x'707A6472'::bigint),
	       pg_advisory_lock(x'707A6472'::bigint << 32), pg_advisory_lock(hashtext('recommendation'))});
is(run_q($mallory, q{SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()}),
	'5', 'another role holds the advisory locks');
$node->safe_psql('postgres', q{
	INSERT INTO personalize.impressions (shown_at, subject_id, purpose, model_id, item_id, rank, score, explored, sponsored)
	SELECT timestamptz '2024-01-15 00:00+00' + s * interval '1 minute' + j * interval '1 second',
	       s, 'recommendation', 1, (s + 3 * j) % 20 + 1, j + 1, 1, false, false
	  FROM generate_series(1, 30) s, generate_series(0, 9) j});
like(run_q($second, q{SET statement_timeout = '60s';
	SELECT personalize.drift_job('{"purpose": "recommendation", "until": "2024-01-16T00:00:00Z"}')}),
	qr/"busy": \[\].*"periods": 1/, 'the drift job is not stalled by them');

$_->quit for ($running, $first, $second, $listener, $mallory);
$node->stop;
done_testing();
