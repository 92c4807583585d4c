# Concurrent private trainings of one purpose cannot spend more than its
# privacy budget: the second waits for the first to commit or roll back,
# then is refused (or goes ahead) on what was really spent; under
# REPEATABLE READ it fails with a serialization error instead of reading a
# stale total.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PzSession;

my $node = PostgreSQL::Test::Cluster->new('privacy');
$node->init;
$node->append_conf('postgresql.conf',
	"shared_preload_libraries = 'personalize'\npersonalize.databases = ''");
$node->start;
$node->safe_psql('postgres', q{
	SET client_min_messages = warning;
	CREATE EXTENSION personalize;
	INSERT INTO personalize.items (item_id, category) SELECT i, 'c' || (i % 5) FROM generate_series(1, 50) i;
	SELECT count(*) FROM (SELECT personalize.set_consent(s, 'recommendation', 'personalization')
	                        FROM generate_series(1, 80) s) t;
	INSERT INTO personalize.interactions (subject_id, item_id, category, kind, occurred_at)
	SELECT s, i, 'browsing_history', 'view', now() - interval '1 day'
	  FROM generate_series(1, 80) s, generate_series(1, 50) i WHERE (s + i) % 4 = 0;
	SELECT personalize.set_privacy_budget('recommendation', 10, 1e-5);
});

my $a = open_session($node, 'postgres');
my $b = open_session($node, 'postgres');

sub spent
{
	return $node->safe_psql('postgres',
		q{SELECT epsilon_spent || ' ' || models FROM personalize.privacy_budget WHERE purpose = 'recommendation'});
}

# B's training is sent without waiting for it; it must be seen waiting on
# A's spending before A ends its transaction.
sub train_in_background
{
	my ($s, $epsilon) = @_;
	$s->query_until(qr/sent/, "\\echo sent\nSELECT personalize.train('popularity', dp_epsilon => $epsilon);\n");
	return $node->poll_query_until('postgres', qq{
		SELECT count(*) FROM pg_stat_activity
		 WHERE wait_event_type = 'Lock' AND query LIKE '%dp_epsilon => $epsilon)%'}, '1');
}

# 1. A spends 6 and commits while B, asking for 6, waits: B is refused.
run_q($a, 'BEGIN');
like(run_q($a, q{SELECT personalize.train('popularity', dp_epsilon => 6) > 0}), qr/^t$/m,
	'A trains with epsilon 6 of 10, not yet committed');
ok(train_in_background($b, 6), 'B, asking for 6 as well, waits for A');
is(run_q($a, 'COMMIT'), '', 'A commits');
like(run_q($b, q{SELECT 'B is back'}), qr/would exceed the privacy budget of purpose "recommendation"/,
	'B is refused on what A spent');
is(spent(), '6 1', 'one private model, 6 spent');

# 2. A spends 2 and rolls back while B, asking for 4, waits: B goes ahead.
run_q($a, 'BEGIN');
run_q($a, q{SELECT personalize.train('popularity', dp_epsilon => 2)});
ok(train_in_background($b, 4), 'B, asking for 4, waits for A');
is(run_q($a, 'ROLLBACK'), '', 'A rolls back');
unlike(run_q($b, q{SELECT 'B is back'}), qr/ERROR/, 'B trains on what is really left');
is(spent(), '10 2', 'the budget is spent exactly, never more');

# 3. REPEATABLE READ: B's snapshot predates A's spending, so B may not
# decide on it; it fails instead of overspending.
$node->safe_psql('postgres', q{SELECT personalize.set_privacy_budget('recommendation', 12, 1e-5)});
run_q($b, 'BEGIN ISOLATION LEVEL REPEATABLE READ');
run_q($b, 'SELECT count(*) FROM personalize.privacy_spending');
run_q($a, 'BEGIN');
run_q($a, q{SELECT personalize.train('popularity', dp_epsilon => 1.5)});
ok(train_in_background($b, 1.25), 'B (REPEATABLE READ), asking for 1.25, waits for A');
is(run_q($a, 'COMMIT'), '', 'A commits');
like(run_q($b, q{SELECT 'B is back'}), qr/could not serialize access due to concurrent update/,
	'B fails with a serialization error, not a stale total');
run_q($b, 'ROLLBACK');
is(spent(), '11.5 3', 'only A spent');

$a->quit;
$b->quit;
$node->stop;
done_testing();
