# Background workers: the launcher starts a scheduler in each database that
# has the extension (and only where personalize.databases allows), the
# scheduler runs due jobs and records failures, survives SIGTERM, kill -9
# (crash restart) and reloads, stays out of the way of DROP EXTENSION and
# DROP DATABASE, and never runs on a standby.  Every wait is a bounded poll.
use strict;
use warnings;
use File::Spec;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use PzSession;

my $node = PostgreSQL::Test::Cluster->new('workers');
$node->init(allows_streaming => 1);
# The launcher's naptime stays at its default (a minute; a database without
# the extension is looked at again after ten): a scheduler that appears
# within the poll's bound was started by a wake-up, not by the naptime.
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'personalize'
restart_after_crash = on
max_worker_processes = 16
personalize.databases = 'app, noext, slow, dropme'
personalize.scheduler_naptime = 2
personalize.retrain_interval = 1
});
$node->start;

my $gen = File::Spec->rel2abs('test/gen/generate.sql');

sub scheduler_count
{
	my ($db) = @_;
	return qq{SELECT count(*) FROM pg_stat_activity
	           WHERE backend_type = 'personalize scheduler' AND datname = '$db'};
}

sub scheduler_pid
{
	my ($db) = @_;
	return $node->safe_psql('postgres', qq{SELECT pid FROM pg_stat_activity
	  WHERE backend_type = 'personalize scheduler' AND datname = '$db'});
}

# Log lines of errors since an offset; a test says which it expects.
sub log_errors_since
{
	my ($offset) = @_;
	my $log = slurp_file($node->logfile, $offset);
	return grep { /\b(ERROR|FATAL|PANIC|WARNING):/ } split /\n/, $log;
}

# One row per check: is the state of the models sane (no half-made model,
# exactly one active per purpose that has one)?
my $models_sane = q{
	SELECT (SELECT count(*) FROM personalize.models WHERE status = 'training') = 0
	   AND NOT EXISTS (SELECT 1 FROM personalize.models WHERE status = 'active'
	                    GROUP BY purpose HAVING count(*) <> 1)
	   AND EXISTS (SELECT 1 FROM personalize.models WHERE status = 'active')};

# ---- the launcher, and which databases get a scheduler ----

ok($node->poll_query_until('postgres',
	q{SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'personalize launcher'}),
	'the launcher runs');

my $log_start = -s $node->logfile;
$node->safe_psql('postgres', 'CREATE DATABASE app');
$node->safe_psql('postgres', 'CREATE DATABASE noext');
$node->safe_psql('postgres', 'CREATE DATABASE unlisted');

# The launcher tries the new database (woken by CREATE DATABASE): its
# scheduler connects, finds no extension and leaves, silently.
ok($node->poll_query_until('postgres',
	q{SELECT xact_commit > 0 FROM pg_stat_database WHERE datname = 'noext'}),
	'a scheduler looked at the database without the extension');
ok($node->poll_query_until('postgres', scheduler_count('noext'), '0'),
	'and left it');

$node->safe_psql('app', 'CREATE EXTENSION personalize');
ok($node->poll_query_until('postgres', scheduler_count('app'), '1'),
	'CREATE EXTENSION gets its database a scheduler at once');
like($node->safe_psql('app', q{SELECT string_agg(kind || ':' || state, ',' ORDER BY kind)
	FROM personalize.worker_status}), qr/^launcher:[a-z ]+,scheduler:[a-z ]+$/,
	'worker_status shows the launcher and the scheduler');
is($node->safe_psql('postgres', q{SELECT application_name FROM pg_stat_activity
	 WHERE backend_type = 'personalize scheduler'}), 'personalize scheduler',
	'the scheduler names itself in pg_stat_activity');

# A database left out of personalize.databases gets none, even with the extension.
my $t0 = $node->safe_psql('unlisted', 'BEGIN; CREATE EXTENSION personalize; SELECT now(); COMMIT;');
ok($node->poll_query_until('app', qq{SELECT last_heartbeat > '$t0'
	FROM personalize.worker_status WHERE kind = 'launcher'}),
	'the launcher has looked since (woken by CREATE EXTENSION)');
is($node->safe_psql('postgres', scheduler_count('unlisted')), '0',
	'no scheduler where personalize.databases does not list the database');
$node->safe_psql('postgres', q{ALTER SYSTEM SET personalize.databases = '*'; SELECT pg_reload_conf()});
ok($node->poll_query_until('postgres', scheduler_count('unlisted'), '1'),
	'listing it (reload) starts one');
$node->safe_psql('postgres', q{ALTER SYSTEM SET personalize.databases = 'app, noext, slow, dropme';
	SELECT pg_reload_conf()});
ok($node->poll_query_until('postgres', scheduler_count('unlisted'), '0'),
	'unlisting it again stops it');

is(join("\n", log_errors_since($log_start)), '',
	'no errors or warnings in the log so far (the database without the extension made no noise)');
my $log = slurp_file($node->logfile, $log_start);
unlike($log, qr/exited with exit code/, 'no scheduler exit was logged');

# A database at an older version of the extension: the scheduler waits,
# says so once, and runs jobs as soon as the extension is updated.
$node->safe_psql('noext', q{CREATE EXTENSION personalize VERSION '0.2.0'});
ok($node->poll_query_until('app', q{SELECT state FROM personalize.worker_status() WHERE datname = 'noext'},
	'waiting for extension update'), 'a scheduler waits in a database at version 0.2.0');
my $hb = $node->safe_psql('app', q{SELECT last_heartbeat FROM personalize.worker_status() WHERE datname = 'noext'});
ok($node->poll_query_until('app', qq{SELECT last_heartbeat > '$hb' FROM personalize.worker_status()
	WHERE datname = 'noext'}), 'and looks again');
my $said = () = slurp_file($node->logfile, $log_start) =~ /is at version 0\.2\.0, its library at version/g;
is($said, 1, 'the log says so once');
$node->safe_psql('noext', 'ALTER EXTENSION personalize UPDATE');
ok($node->poll_query_until('noext', q{SELECT bool_and(runs > 0) FROM personalize.jobs}),
	'after ALTER EXTENSION UPDATE its jobs run');

# ---- jobs ----

$node->safe_psql('app', q{SELECT personalize.alter_job('retention', enabled => false)});
$node->command_ok(
	[ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-v', 'subjects=2000', '-v', 'items=500',
	  '-v', 'interactions=50000', '-v', 'check=false', '-d', $node->connstr('app'), '-f', $gen ],
	'synthetic data loaded');
$node->safe_psql('app', q{SELECT personalize.train('popularity', activate => 'always')});
my $sched = scheduler_pid('app');

# A job that fails (nothing is visible under the purpose it trains for) is
# recorded with its error and retried; the scheduler carries on.
$node->safe_psql('app', q{
	BEGIN;
	SELECT personalize.schedule_job('failing', 'retrain', '2 seconds',
	                                '{"purpose": "analytics", "algorithm": "als"}');
	SELECT personalize.wake_scheduler();
	COMMIT;});
ok($node->poll_query_until('app',
	q{SELECT failures >= 2 FROM personalize.jobs WHERE job_name = 'failing'}),
	'a failing job is retried');
is($node->safe_psql('app', q{SELECT last_status || ' | ' || last_error FROM personalize.jobs WHERE job_name = 'failing'}),
	'failed | no interactions are visible under purpose "analytics"', 'its error is recorded');
is($node->safe_psql('app', q{SELECT DISTINCT runner || ' ' || status || ' ' || sqlstate || ' ' || (started_at IS NOT NULL)
	FROM personalize.job_runs WHERE job_name = 'failing'}), 'worker failed P0002 true',
	'each failed run is in the history, with its SQLSTATE and start');
ok($node->safe_psql('app', q{SELECT jobs_failed >= 2 FROM personalize.worker_status WHERE datname = 'app'}) eq 't',
	'worker_status counts the failures');
is(scheduler_pid('app'), $sched, 'the scheduler kept running');
$node->safe_psql('app', q{SELECT personalize.unschedule_job('failing')});

# SIGHUP: a changed retraining interval reaches the running scheduler.
$node->safe_psql('app', q{SELECT personalize.alter_job('retrain', every => '1 second', next_run => now(),
	params => '{"purpose": "recommendation", "algorithm": "popularity"}')});
$node->safe_psql('postgres', q{ALTER SYSTEM SET personalize.retrain_interval = '1h'; SELECT pg_reload_conf()});
$t0 = $node->safe_psql('app', 'SELECT now()');
ok($node->poll_query_until('app', qq{SELECT count(*) >= 2 FROM personalize.job_runs
	WHERE job_name = 'retrain' AND status = 'skipped' AND started_at > '$t0'}),
	'with a one-hour interval, retraining is skipped');
my $models = $node->safe_psql('app', 'SELECT count(*) FROM personalize.models');
$node->safe_psql('postgres', q{ALTER SYSTEM SET personalize.retrain_interval = '1s'; SELECT pg_reload_conf()});
$t0 = $node->safe_psql('app', 'SELECT now()');
ok($node->poll_query_until('app', qq{SELECT count(*) >= 1 FROM personalize.job_runs
	WHERE job_name = 'retrain' AND status = 'succeeded' AND started_at > '$t0'}),
	'after a reload with a one-second interval, it retrains');
ok($node->safe_psql('app', 'SELECT count(*) FROM personalize.models') > $models, 'new models were trained');
is(scheduler_pid('app'), $sched, 'by the same scheduler process (reloaded, not restarted)');

# personalize.coordinator_only: where citus_is_coordinator() says this is
# not the coordinator, no job runs.  (Citus itself is not needed to test it.)
$node->safe_psql('app', q{CREATE FUNCTION pg_catalog.citus_is_coordinator() RETURNS boolean
	LANGUAGE sql AS 'SELECT false'});
$node->safe_psql('postgres', q{ALTER SYSTEM SET personalize.coordinator_only = on; SELECT pg_reload_conf()});
ok($node->poll_query_until('app', q{SELECT state FROM personalize.worker_status WHERE datname = 'app'},
	'not coordinator'), 'with coordinator_only, a Citus worker node\'s scheduler stands by');
my ($hb2, $runs) = split /\|/, $node->safe_psql('app', q{SELECT last_heartbeat,
	(SELECT runs FROM personalize.jobs WHERE job_name = 'retrain') FROM personalize.worker_status WHERE datname = 'app'});
ok($node->poll_query_until('app', qq{SELECT last_heartbeat > '$hb2' FROM personalize.worker_status
	WHERE datname = 'app'}), 'and looks again');
is($node->safe_psql('app', q{SELECT runs FROM personalize.jobs WHERE job_name = 'retrain'}), $runs,
	'without running the due job');
$node->safe_psql('app', q{CREATE OR REPLACE FUNCTION pg_catalog.citus_is_coordinator() RETURNS boolean
	LANGUAGE sql AS 'SELECT true'});
ok($node->poll_query_until('app', qq{SELECT runs > $runs FROM personalize.jobs WHERE job_name = 'retrain'}),
	'on the coordinator, jobs run');
$node->safe_psql('app', 'DROP FUNCTION pg_catalog.citus_is_coordinator()');
$node->safe_psql('postgres', q{ALTER SYSTEM RESET personalize.coordinator_only; SELECT pg_reload_conf()});

# Retraining while clients call recommend() and record interactions: no
# client error, no lost interaction.  Rounds of pgbench go on until at
# least two retrainings have finished while clients were running.
$node->safe_psql('app', q{SELECT personalize.alter_job('retrain', every => '1 second',
	params => '{"purpose": "recommendation", "algorithm": "als",
	            "params": {"factors": 8, "iterations": 5, "activate": "always"}}')});
my $before = $node->safe_psql('app', 'SELECT count(*) FROM personalize.interactions');
my $started = $node->safe_psql('app', 'SELECT now()');
my $client = q{
\set s random(1, 2000)
\set i random(1, 500)
SELECT CASE WHEN count(*) = 10 THEN 1 ELSE 1 / (count(*) - count(*)) END
  FROM personalize.recommend(:s, k => 10);
SELECT personalize.track(:s, :i, 'browsing_history', kind => 'view');
};
my ($rounds, $retrained) = (0, 0);
while ($rounds < 40 && $retrained < 2)
{
	$rounds++;
	$node->pgbench('-n -c 4 -j 2 -t 50', 0, [qr{processed: 200/200}], [qr{^$}],
		"round $rounds: no client error while the scheduler retrains",
		{ "client_$rounds.sql" => $client }, 'app');
	$retrained = $node->safe_psql('app', qq{SELECT count(*) FROM personalize.job_runs
		WHERE job_name = 'retrain' AND status = 'succeeded' AND started_at > '$started'});
}
cmp_ok($retrained, '>=', 2, "models were retrained during the load ($rounds rounds)");
# The job's params say to activate every version, so serving swaps models
# under the load (by default activation is gated on held-out NDCG).
cmp_ok($node->safe_psql('app', qq{SELECT count(*) FROM personalize.job_runs
	WHERE job_name = 'retrain' AND started_at > '$started' AND result ->> 'status' = 'active'}),
	'>=', 1, 'and at least one was activated');
is($node->safe_psql('app', 'SELECT count(*) FROM personalize.interactions'), $before + 200 * $rounds,
	'every interaction recorded meanwhile is there');
ok($node->safe_psql('app', $models_sane) eq 't', 'one active model, none half-made');

# ---- a standby runs no scheduler ----

$node->backup('b1');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($node, 'b1', has_streaming => 1);
$standby->start;
$node->wait_for_catchup($standby);
is($standby->safe_psql('app', q{SELECT pg_is_in_recovery()}), 't', 'the standby is in recovery');
is($standby->safe_psql('postgres',
	q{SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE 'personalize%'}), '0',
	'no personalize worker runs on the standby');
is($standby->safe_psql('app', 'SELECT count(*) FROM personalize.worker_status()'), '0',
	'and its worker_status() is empty');
$standby->promote;
ok($standby->poll_query_until('postgres', scheduler_count('app'), '1'),
	'once promoted, it starts a scheduler');
$standby->stop;

# ---- SIGTERM and kill -9 in the middle of a long retraining ----

# Stop the quick retraining first (waiting for a run in progress), so that
# the newest model is older than the one-second interval when the long one
# is due: a retraining job skips while the newest model is younger.
$node->safe_psql('app', q{SELECT personalize.alter_job('retrain', enabled => false)});
$node->safe_psql('app', q{SELECT personalize.alter_job('retrain', every => '1 hour', enabled => true,
	next_run => now() + interval '1 second',
	params => '{"purpose": "recommendation", "algorithm": "als",
	            "params": {"factors": 256, "iterations": 200, "cg_steps": 64}}')});
my $active = $node->safe_psql('app', q{SELECT model_id FROM personalize.models WHERE status = 'active'});
my $mid_fit = q{SELECT count(*) = 1 FROM personalize.training_progress
	WHERE phase = 'fitting on the training part' AND iteration >= 1 AND pid = };
ok($node->poll_query_until('app', $mid_fit . scheduler_pid('app')), 'the scheduler is in a long retraining');
is($node->safe_psql('postgres', q{SELECT state || ' | ' || query FROM pg_stat_activity
	WHERE backend_type = 'personalize scheduler' AND datname = 'app'}),
	'active | personalize job: retrain', 'pg_stat_activity shows the job');
is($node->safe_psql('app', q{SELECT state || ' | ' || job || ' | ' || (job_started IS NOT NULL)
	FROM personalize.worker_status WHERE datname = 'app'}), 'running job | retrain | true',
	'so does worker_status');

$sched = scheduler_pid('app');
$log_start = -s $node->logfile;
$node->safe_psql('postgres', "SELECT pg_terminate_backend($sched)");
ok($node->poll_query_until('postgres', "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $sched"),
	'SIGTERM stops the scheduler mid-job');
ok($node->safe_psql('app', $models_sane) eq 't', 'leaving no half-made model');
is($node->safe_psql('app', q{SELECT model_id FROM personalize.models WHERE status = 'active'}), $active,
	'and the active model as it was');
ok($node->poll_query_until('postgres', qq{SELECT count(*) = 1 FROM pg_stat_activity
	WHERE backend_type = 'personalize scheduler' AND datname = 'app' AND pid <> $sched}),
	'the launcher restarts it');
$sched = scheduler_pid('app');
ok($node->poll_query_until('app', $mid_fit . $sched), 'and it takes the job up again');

# kill -9: the postmaster restarts everything; the job is retried and the
# models are as they were.  With a one-hour interval the retried job skips.
$node->safe_psql('postgres', q{ALTER SYSTEM SET personalize.retrain_interval = '1h'; SELECT pg_reload_conf()});
$t0 = $node->safe_psql('app', 'SELECT now()');
kill 'KILL', $sched;
ok($node->poll_query_until('app', qq{SELECT last_status = 'skipped' AND last_finished > '$t0'
	FROM personalize.jobs WHERE job_name = 'retrain'}),
	'after kill -9 and crash restart, the scheduler runs the job again');
isnt(scheduler_pid('app'), $sched, 'in a new process');
ok($node->safe_psql('app', $models_sane) eq 't', 'no half-made model after the crash');
is($node->safe_psql('app', q{SELECT model_id FROM personalize.models WHERE status = 'active'}), $active,
	'the active model is the one from before');
$log = slurp_file($node->logfile, $log_start);
like($log, qr/terminating background worker "personalize scheduler" due to administrator command/,
	'the log tells of the SIGTERM');
like($log, qr/was terminated by signal 9/, 'and of the crash');

# ---- DROP EXTENSION and DROP DATABASE while jobs run ----

# A job that runs for an hour unless cancelled: it polls for a row nobody
# inserts, so the statements below can only return if they cancel it.
sub add_slow_job
{
	my ($db) = @_;
	$node->safe_psql($db, q{
		CREATE TABLE public.slow_job_stop ();
		CREATE FUNCTION public.slow_job(j personalize.jobs) RETURNS jsonb LANGUAGE plpgsql AS $$
		BEGIN
			FOR i IN 1..36000 LOOP
				EXIT WHEN EXISTS (SELECT FROM public.slow_job_stop);
				PERFORM pg_sleep(0.1);	-- poll, at most an hour
			END LOOP;
			RETURN '{}';
		END $$;
		INSERT INTO personalize.job_kinds (kind, handler, description)
		VALUES ('slow', 'public.slow_job(personalize.jobs)', 'sleeps for an hour');
		SELECT personalize.schedule_job('slow', 'slow', '1 hour');
		SELECT personalize.wake_scheduler();});
	ok($node->poll_query_until('postgres', qq{SELECT count(*) = 1 FROM pg_stat_activity
		WHERE datname = '$db' AND query = 'personalize job: slow' AND state = 'active'}),
		"a slow job runs in $db");
}

$node->safe_psql('postgres', 'CREATE DATABASE slow');
$node->safe_psql('slow', 'CREATE EXTENSION personalize');
ok($node->poll_query_until('postgres', scheduler_count('slow'), '1'), 'the new database gets a scheduler');
add_slow_job('slow');

# ---- who sees what ----

$node->safe_psql('app', q{
	CREATE ROLE mallory LOGIN;
	CREATE ROLE monitor LOGIN IN ROLE pg_read_all_stats;
	CREATE FUNCTION public.leak(t text) RETURNS boolean LANGUAGE plpgsql COST 0.0000001 AS
	  $$BEGIN RAISE NOTICE 'leaked %', t; RETURN true; END$$;});
my $m = open_session($node, 'mallory', 'app');
is(run_q($m, q{SELECT string_agg(kind || ':' || coalesce(datname, '-'), ',' ORDER BY kind)
	FROM personalize.worker_status()}), 'launcher:-,scheduler:app',
	'a plain role sees the launcher and its own database\'s scheduler, not the others');
is(run_q($m, q{SELECT string_agg(kind || ':' || coalesce(datname, '-'), ',' ORDER BY kind)
	FROM personalize.worker_status}), 'launcher:-,scheduler:app', 'so does the view');
my $leaked = run_q($m, q{SELECT count(*) FROM personalize.worker_status WHERE public.leak(datname::text)});
unlike($leaked, qr/leaked (noext|postgres|slow|dropme)/, 'its own functions see no other database through the view');
$m->quit;
is($node->safe_psql('app', q{SELECT string_agg(kind || ':' || coalesce(datname, '-'), ',' ORDER BY kind, datname)
	FROM personalize.worker_status()}, connstr => $node->connstr('app') . ' user=monitor'),
	'launcher:-,scheduler:app,scheduler:noext,scheduler:slow', 'pg_read_all_stats sees every database');

# Nobody can stop someone else's scheduler by trying DDL they may not run.
$sched = scheduler_pid('app');
my $b = open_session($node, 'mallory', 'postgres');
like(run_q($b, 'DROP DATABASE app'), qr/must be owner/, 'a non-owner cannot drop the database');
like(run_q($b, 'CREATE DATABASE copy TEMPLATE app'), qr/permission denied/, 'nor copy it');
$b->quit;
$b = open_session($node, 'mallory', 'app');
like(run_q($b, 'DROP EXTENSION personalize'), qr/must be owner/, 'nor drop the extension');
$b->quit;
is(scheduler_pid('app'), $sched, 'and the scheduler was not disturbed');

$node->safe_psql('postgres', 'CREATE DATABASE dropme');
$node->safe_psql('dropme', 'CREATE EXTENSION personalize');
ok($node->poll_query_until('postgres', scheduler_count('dropme'), '1'), 'and another');
add_slow_job('dropme');

# the long retraining in app, again
$node->safe_psql('postgres', q{ALTER SYSTEM SET personalize.retrain_interval = '1s'; SELECT pg_reload_conf()});
$node->safe_psql('app', q{SELECT personalize.alter_job('retrain', next_run => now());
	SELECT personalize.wake_scheduler()});
ok($node->poll_query_until('app', $mid_fit . scheduler_pid('app')), 'app is retraining');

$log_start = -s $node->logfile;
my $t = time;
$node->safe_psql('app', 'DROP EXTENSION personalize CASCADE');
my $drop_ext_s = time - $t;
pass('DROP EXTENSION returns while a retraining runs');
ok($node->poll_query_until('postgres', scheduler_count('app'), '0'), 'and the scheduler goes');

$t = time;
$node->safe_psql('slow', 'DROP EXTENSION personalize CASCADE');
my $drop_ext_slow_s = time - $t;
pass('DROP EXTENSION returns while a slow SQL job runs');
ok($node->poll_query_until('postgres', scheduler_count('slow'), '0'), 'and that scheduler goes too');

$t = time;
$node->safe_psql('postgres', 'DROP DATABASE dropme');
my $drop_db_s = time - $t;
pass('DROP DATABASE succeeds while its scheduler runs a job');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'personalize scheduler'
	AND datid NOT IN (SELECT oid FROM pg_database)}), '0', 'no scheduler is left behind');

# The database of an idle scheduler, too; and it can be copied and renamed.
$node->safe_psql('postgres', 'CREATE DATABASE dropme');
$node->safe_psql('dropme', 'CREATE EXTENSION personalize');
ok($node->poll_query_until('postgres', scheduler_count('dropme'), '1'), 'a scheduler in the new dropme');
$node->safe_psql('postgres', 'CREATE DATABASE copied TEMPLATE dropme');
pass('CREATE DATABASE ... TEMPLATE a database with a scheduler');
ok($node->poll_query_until('postgres', scheduler_count('dropme'), '1'), 'whose scheduler comes back');
$node->safe_psql('postgres', 'ALTER DATABASE copied RENAME TO dropme2');
$node->safe_psql('postgres', 'DROP DATABASE dropme');
pass('DROP DATABASE with an idle scheduler');
$node->safe_psql('postgres', 'DROP DATABASE dropme2');

my @errors = log_errors_since($log_start);
is(scalar(@errors), 0, 'no error in the log through the drops') or diag(join("\n", @errors));
$log = slurp_file($node->logfile, $log_start);
my $cancelled = () = $log =~ /personalize job "\w+" cancelled/g;
cmp_ok($cancelled, '<=', 3, "one line per cancelled job ($cancelled)");
note(sprintf('DROP EXTENSION mid-retraining %.2f s, mid slow job %.2f s; DROP DATABASE mid-job %.2f s',
	$drop_ext_s, $drop_ext_slow_s, $drop_db_s));

$node->stop;
done_testing();
