# Progress of long training, seen from a second session: the phase, the
# ALS iteration, the rows read; details hidden from other roles; nothing
# left behind when training is cancelled.
use strict;
use warnings;
use File::Spec;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PzSession;

my $node = PostgreSQL::Test::Cluster->new('progress');
$node->init;
$node->append_conf('postgresql.conf',
	"shared_preload_libraries = 'personalize'\npersonalize.databases = ''");
$node->start;

my $gen = File::Spec->rel2abs('test/gen/generate.sql');
$node->safe_psql('postgres', 'CREATE EXTENSION personalize');
$node->command_ok(
	[ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-v', 'subjects=3000', '-v', 'items=800',
	  '-v', 'interactions=100000', '-d', $node->connstr('postgres'),
	  '-f', $gen ],
	'synthetic data loaded');
$node->safe_psql('postgres', q{
	CREATE ROLE watcher LOGIN;
	CREATE ROLE auditor LOGIN IN ROLE pg_read_all_stats;
	GRANT USAGE ON SCHEMA personalize TO watcher, auditor;
});

is($node->safe_psql('postgres', 'SELECT count(*) FROM personalize.training_progress'),
	'0', 'nothing is training');

# A long ALS fit in one session ...
my $trainer = open_session($node, $node->safe_psql('postgres', 'SELECT current_user'));
$trainer->query_until(qr/started/, qq{\\echo started
SELECT personalize.train('als', factors => 64, iterations => 200, activate => 'never');
});

# ... is seen iterating from another.
ok($node->poll_query_until('postgres', q{
	SELECT iteration >= 2 FROM personalize.training_progress
	 WHERE phase = 'fitting on the training part'}),
	'a second session sees the fit iterating');
my $seen = $node->safe_psql('postgres', q{
	SELECT purpose || ' ' || algorithm || ' ' || iterations || ' ' || (rows_read > 0)
	       || ' ' || (elapsed >= in_phase) || ' ' || (pid <> pg_backend_pid())
	  FROM personalize.training_progress});
is($seen, 'recommendation als 200 true true true', 'purpose, algorithm, iterations, rows, times');
my $rows_read = $node->safe_psql('postgres', 'SELECT rows_read FROM personalize.training_progress');
my $pid = $node->safe_psql('postgres', 'SELECT pid FROM personalize.training_progress');

is($node->safe_psql('postgres', q{
	SELECT (pid IS NOT NULL) || ' ' || coalesce(purpose, '-') || ' ' || coalesce(phase, '-')
	  FROM personalize.training_progress}, connstr => $node->connstr('postgres') . ' user=watcher'),
	'true - -', 'another role sees that training runs, not what it is');
# (whichever phase it has reached by now: the details are what matters)
is($node->safe_psql('postgres', q{
	SELECT coalesce(purpose, '-') || ' ' || (phase IS NOT NULL) FROM personalize.training_progress},
		connstr => $node->connstr('postgres') . ' user=auditor'),
	'recommendation true', 'pg_read_all_stats sees the details');

# Cancelled mid-fit: the row goes, and so does the half-made model.
$node->safe_psql('postgres', "SELECT pg_cancel_backend($pid)");
ok($node->poll_query_until('postgres', 'SELECT count(*) = 0 FROM personalize.training_progress'),
	'a cancelled training leaves the view');
$trainer->query_until(qr/after_cancel/, "\\echo after_cancel\n");
like($trainer->{stderr}, qr/canceling statement due to user request/, 'the trainer was cancelled');
$trainer->{stderr} = '';
is($node->safe_psql('postgres', 'SELECT count(*) FROM personalize.models'), '0',
	'no model row is left behind');

# A complete training reads what the view said it had read.
my $model = $node->safe_psql('postgres',
	q{SELECT personalize.train('als', factors => 8, iterations => 2, activate => 'never')});
is($node->safe_psql('postgres', "SELECT data->>'rows_used' FROM personalize.models WHERE model_id = $model"),
	$rows_read, 'rows_read was the number of rows the model is trained on');
is($node->safe_psql('postgres', 'SELECT count(*) FROM personalize.training_progress'),
	'0', 'and finished training leaves the view');

# Inside a subtransaction that fails, the row goes with it.
$trainer->query_until(qr/sub_started/, qq{\\echo sub_started
BEGIN;
SAVEPOINT s;
SELECT personalize.train('als', factors => 64, iterations => 200, activate => 'never');
});
ok($node->poll_query_until('postgres', q{
	SELECT count(*) = 1 FROM personalize.training_progress WHERE iteration >= 1}),
	'training inside a savepoint is seen');
$pid = $node->safe_psql('postgres', 'SELECT pid FROM personalize.training_progress');
$node->safe_psql('postgres', "SELECT pg_cancel_backend($pid)");
ok($node->poll_query_until('postgres', 'SELECT count(*) = 0 FROM personalize.training_progress'),
	'and leaves the view when the savepoint is cancelled');
$trainer->query_until(qr/sub_cancelled/, "\\echo sub_cancelled\n");
$trainer->{stderr} = '';
is(run_q($trainer, 'ROLLBACK TO s; SELECT 1; COMMIT;'), '1', 'the session goes on');

$trainer->quit;
$node->stop;
done_testing();
