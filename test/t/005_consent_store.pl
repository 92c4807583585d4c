# The shared consent store on a real cluster: sessions reading while others
# grant and withdraw (every read after a committed change sees it), parallel
# workers answering as a serial scan does, a crash restart, builds racing a
# stream of consent commits (every reader's answer checked against plain SQL
# over the consents table), a hot standby, a logical replication
# subscriber, the update from 0.1.0, and a server without the library
# preloaded (the per-backend path).  No fixed sleeps: lockstep, polling.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PzSession;

my $N = 3000;    # subjects with one 'session' interaction each, on item 1

my $node = PostgreSQL::Test::Cluster->new('store');
$node->init(allows_streaming => 1);
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'personalize'
personalize.databases = ''
max_worker_processes = 8
max_parallel_workers = 4
restart_after_crash = on
});
$node->start;

sub setup
{
	my ($n) = @_;
	$n->safe_psql('postgres', qq{
		CREATE EXTENSION personalize;
		CREATE ROLE app LOGIN;
		SELECT personalize.grant_purpose('app', 'recommendation');
		INSERT INTO personalize.items (item_id) VALUES (1);
		INSERT INTO personalize.interactions (subject_id, item_id, category)
			SELECT s, 1, 'session' FROM generate_series(1, $N) s;
		ANALYZE personalize.interactions;
	});
}
setup($node);

# A session of the role; the app declares its purpose.
sub session
{
	my ($n, $user) = @_;
	my $s = open_session($n, $user);
	$s->query_safe("SET personalize.purpose = 'recommendation'") if $user eq 'app';
	return $s;
}

my $visible_sum = 'SELECT coalesce(sum(subject_id), 0) FROM personalize.interactions WHERE item_id = 1';

# What the app should see, by plain SQL over the consents.
my $expected_sql = q{
	SELECT coalesce(sum(i.subject_id), 0) FROM personalize.interactions i
	  JOIN personalize.consents c ON c.subject_id = i.subject_id AND c.purpose = 'recommendation'
	 WHERE i.item_id = 1 AND personalize.consent_allows_tier(c.consent, 'session', 1)};

sub expected_sum
{
	my ($n) = @_;
	return $n->safe_psql('postgres', $expected_sql);
}

sub consent_all
{
	my ($n, $tier) = @_;
	$n->safe_psql('postgres', qq{
		SELECT count(*) FROM (SELECT personalize.set_consent(s, 'recommendation', '$tier')
		                        FROM generate_series(1, $N) s) t});
}

sub sum_to { my ($k) = @_; return $k * ($k + 1) / 2; }

consent_all($node, 'personalization');

# ---- several readers, a writer granting and withdrawing, in lockstep -------
my @readers = map { session($node, 'app') } 1 .. 3;
my $writer = session($node, 'postgres');
is(run_q($_, $visible_sum), sum_to($N), 'every reader starts with all subjects') for @readers;

my @wrong;
for my $step (1 .. 40)
{
	my $subject = 1 + ($step * 37) % $N;
	my $sql = $step % 3 == 0
	  ? "SELECT personalize.set_consent($subject, 'recommendation', 'personalization')"
	  : "SELECT personalize.withdraw_consent($subject, 'recommendation')";
	my $w = run_q($writer, $sql);
	die "writer failed: $w" if $w =~ /^ERROR/;
	my $want = expected_sum($node);
	for my $r (0 .. $#readers)
	{
		my $got = run_q($readers[$r], $visible_sum);
		push @wrong, "step $step reader $r: $got, want $want" if $got ne $want;
	}
}
is(join('; ', @wrong), '', 'each grant and withdrawal is seen by every other session\'s next statement');
like($node->safe_psql('postgres', q{
	SELECT state || ' ' || (changes_applied >= 40) FROM personalize.consent_store()
	 WHERE database = current_database()}), qr/^ready true$/, 'the changes were applied to the store in place');

# ---- an open cursor sees a withdrawal at its next FETCH ----------------------
consent_all($node, 'personalization');
my $c = $readers[0];
run_q($c, 'SET enable_seqscan = off; SET enable_bitmapscan = off');
run_q($c, 'BEGIN');
run_q($c, 'DECLARE c CURSOR FOR SELECT subject_id FROM personalize.interactions WHERE item_id = 1 ORDER BY subject_id');
is(run_q($c, 'FETCH 10 FROM c'), join("\n", 1 .. 10), 'the cursor starts with subject 1');
run_q($writer, 'SELECT personalize.withdraw_consent(s, \'recommendation\') FROM generate_series(11, 20) s');
my @rest = split /\n/, run_q($c, 'FETCH 20 FROM c');
is("@rest", join(' ', 21 .. 40), 'the next FETCH skips the subjects withdrawn meanwhile');
run_q($c, 'COMMIT');
run_q($c, 'RESET enable_seqscan; RESET enable_bitmapscan');
consent_all($node, 'personalization');

# ---- parallel workers see what a serial scan sees ---------------------------
my $p = $readers[1];
my $parallel = 'SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; '
  . 'SET min_parallel_table_scan_size = 0; SET max_parallel_workers_per_gather = 2; '
  . 'SET parallel_leader_participation = off; SET enable_indexscan = off; SET enable_bitmapscan = off';
my $serial = 'SET max_parallel_workers_per_gather = 0';
# Plain EXPLAIN: instrumented execution is refused for these roles (guard.c).
sub workers_planned
{
	my ($s) = @_;
	my $plan = run_q($s, "EXPLAIN (COSTS OFF, FORMAT JSON) $visible_sum");
	return $plan =~ /"Workers Planned": (\d+)/ ? $1 : 0;
}

run_q($writer, 'SELECT personalize.withdraw_consent(s, \'recommendation\') FROM generate_series(1, 500, 3) s');
run_q($p, $parallel);
is(workers_planned($p), 2, 'the parallel plan has 2 workers');
my $par = run_q($p, $visible_sum);
run_q($p, $serial);
is($par, run_q($p, $visible_sum), 'parallel and serial scans see the same rows');
is($par, expected_sum($node), 'and those are the consented rows');

# a store gone stale (a purpose without a map) is rebuilt before the workers start
$node->safe_psql('postgres', q{
	SELECT personalize.create_purpose('store_test', 'a purpose new to the store', 'enhanced', decides_terms => false);
	SELECT personalize.set_consent(1, 'store_test', 'functional');
	SELECT personalize.withdraw_consent(2, 'recommendation');
});
is($node->safe_psql('postgres', q{SELECT state FROM personalize.consent_store() WHERE database = current_database()}),
	'stale', 'a consent for a purpose without a map makes the store stale');
run_q($p, $parallel);
is(run_q($p, $visible_sum), expected_sum($node), 'a parallel scan over a stale store: the consented rows');
is($node->safe_psql('postgres', q{SELECT state FROM personalize.consent_store() WHERE database = current_database()}),
	'ready', 'the leader rebuilt it');

# the transaction's own changes, in parallel: the workers read the table
run_q($writer, 'BEGIN');
run_q($writer, 'SELECT personalize.withdraw_consent(s, \'recommendation\') FROM generate_series(600, 700) s');
my $own_want = run_q($writer, $expected_sql);
run_q($writer, "SET LOCAL personalize.purpose = 'recommendation'");
run_q($writer, 'SET LOCAL ROLE app');
run_q($writer, $parallel);
is(workers_planned($writer), 2, 'inside the transaction too, 2 workers');
my $own_par = run_q($writer, $visible_sum);
run_q($writer, $serial);
my $own_ser = run_q($writer, $visible_sum);
run_q($writer, 'ROLLBACK');
isnt($own_want, expected_sum($node), 'the transaction\'s own withdrawals change what it should see');
is($own_par, $own_want, 'with uncommitted withdrawals of its own, a parallel scan leaves them out');
is($own_ser, $own_want, 'and so does a serial one');
is(run_q($p, $visible_sum), expected_sum($node), 'after ROLLBACK, the committed state again');

# ---- builds racing a stream of consent commits -------------------------------
# 150,000 marketing consents make a build take a while.  The writer grants
# subjects 1..N in order, one commit each, and every 25th commit gives a
# purpose its first consent, which makes the store stale; it then waits
# until the next reader has started (each is a new session, pgbench -C), so
# that its commits go on while that reader rebuilds the store.  The app's
# visible sum is S(k) = 1 + ... + k for the k the store holds, and a change
# lost by a build would leave a hole, whose sum is no triangular number; k
# must lie between what plain SQL over consents says just before and just
# after the read (one less: a commit visible to SQL may be a moment from
# reaching the store).  The withdrawal phase works the same way on the
# subjects left.  A reader that sees anything else fails its transaction.
$node->safe_psql('postgres', qq{
	INSERT INTO personalize.consents (subject_id, purpose, consent, updated_at)
		SELECT s, 'marketing', 'personalization', now() FROM generate_series(100001, 250000) s;
	SELECT count(*) FROM (SELECT personalize.create_purpose('race_' || k, 'race', 'enhanced', decides_terms => false)
	                        FROM generate_series(1, $N / 25) k) t;
	SELECT count(*) FROM (SELECT personalize.withdraw_consent(s, 'recommendation') FROM generate_series(1, $N) s) t;
	CREATE SEQUENCE race_reads;
	GRANT USAGE ON SEQUENCE race_reads TO PUBLIC;
	CREATE FUNCTION race_reads() RETURNS bigint LANGUAGE sql AS
		\$\$ SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM race_reads \$\$;
	CREATE PROCEDURE race(phase text) LANGUAGE plpgsql AS \$\$
	DECLARE
		seen bigint;
	BEGIN
		FOR s IN 1..$N LOOP
			IF phase = 'grant' THEN
				PERFORM personalize.set_consent(s, 'recommendation', 'personalization');
			ELSE
				PERFORM personalize.withdraw_consent(s, 'recommendation');
			END IF;
			IF s % 25 = 0 THEN
				PERFORM personalize.set_consent(s, 'race_' || (s / 25),
					CASE WHEN phase = 'grant' THEN 'functional' ELSE 'none' END::personalize.consent_tier);
				COMMIT;
				-- the store is stale: go on once a reader has started on it
				-- (poll, at most about 10 s)
				seen := race_reads();
				FOR w IN 1..10000 LOOP
					EXIT WHEN race_reads() <> seen;
					PERFORM pg_sleep(0.001);	-- poll
				END LOOP;
			END IF;
			COMMIT;
		END LOOP;
	END \$\$;
	-- k: the subjects granted (grant phase) or withdrawn so far
	CREATE FUNCTION race_k(phase text) RETURNS bigint LANGUAGE sql AS \$\$
		SELECT coalesce(max(subject_id), 0) FROM personalize.consents
		 WHERE purpose = 'recommendation' AND subject_id <= $N
		   AND personalize.tier(consent) = CASE WHEN phase = 'grant' THEN 'personalization' ELSE 'none' END::personalize.consent_tier
	\$\$;
	CREATE FUNCTION race_check(phase text, k_before bigint, got numeric, k_after bigint) RETURNS int
	LANGUAGE plpgsql AS \$\$
	DECLARE
		held numeric := CASE WHEN phase = 'grant' THEN got ELSE ${N}::numeric * ($N + 1) / 2 - got END;
		k bigint := floor((sqrt(8 * held + 1) - 1) / 2);
	BEGIN
		IF k * (k + 1) / 2 <> held OR k < k_before - 1 OR k > k_after THEN
			RAISE EXCEPTION 'race reader: visible sum % is no prefix between % and % (%)', got, k_before, k_after, phase;
		END IF;
		RETURN 1;
	END \$\$;
	GRANT SELECT ON personalize.interactions TO app;
});
my $builds_before = $node->safe_psql('postgres',
	q{SELECT builds FROM personalize.consent_store() WHERE database = current_database()});

sub race
{
	my ($phase) = @_;
	my $script = $node->basedir . "/race_$phase.sql";
	PostgreSQL::Test::Utils::append_to_file($script, qq{
SELECT nextval('race_reads');
SELECT race_k('$phase') AS k_before \\gset
SET ROLE app;
SET personalize.purpose = 'recommendation';
SELECT coalesce(sum(subject_id), 0) AS got FROM personalize.interactions WHERE item_id = 1 \\gset
RESET ROLE;
SELECT race_k('$phase') AS k_after \\gset
SELECT race_check('$phase', :k_before, :got, :k_after);
});
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres'),
		'-c', "CALL race('$phase')" ], '>', \$out, '2>', \$err);
	my ($reads, $batches, $running, @failed) = (0, 0, 1);
	# batches of readers until the writer is done, and one more after
	while ($running && $batches < 1000)
	{
		$h->pump_nb;
		$running = $h->pumpable;
		my ($bout, $berr) = ('', '');
		IPC::Run::run([ 'pgbench', '-n', '-C', '-c', '2', '-j', '2', '-t', '10', '-f', $script,
			$node->connstr('postgres') ], '>', \$bout, '2>', \$berr);
		$reads += $1 if $bout =~ /number of transactions actually processed: (\d+)/;
		push @failed, $berr if $? != 0 || $berr =~ /ERROR/;
		$batches++;
	}
	$h->finish;
		is($err, '', "$phase race: the writer's $N commits went through");
	is(join("\n", @failed), '', "$phase race: each of the $reads readers saw a prefix within what SQL saw around it");
	note("$phase race: $reads readers in $batches batches");
	is($node->safe_psql('postgres', qq{SET ROLE app; SET personalize.purpose = 'recommendation'; $visible_sum}),
		expected_sum($node), "$phase race: afterwards, exactly the consented rows");
}
race('grant');
race('withdraw');
my $builds = $node->safe_psql('postgres',
	q{SELECT builds FROM personalize.consent_store() WHERE database = current_database()}) - $builds_before;
note("$builds builds during the races");
cmp_ok($builds, '>=', 10, 'the store was rebuilt while commits went on');

# every subject, one by one, against plain SQL, from a new session
$node->safe_psql('postgres', q{SELECT count(*) FROM (SELECT personalize.set_consent(s, 'recommendation', 'personalization')
	FROM generate_series(1, 2000, 7) s) t});
is($node->safe_psql('postgres', q{
	SET personalize.purpose = 'recommendation';
	SELECT count(*) FROM personalize.interactions i
	 WHERE i.item_id = 1 AND personalize.row_visible(i.subject_id, 'session') IS DISTINCT FROM EXISTS (
		SELECT 1 FROM personalize.consents c WHERE c.subject_id = i.subject_id AND c.purpose = 'recommendation'
		   AND personalize.consent_allows_tier(c.consent, 'session', 1))}),
	'0', 'row_visible() agrees with plain SQL for every subject');

# ---- a crash restart ----------------------------------------------------------
my $victim = session($node, 'app');
my $pid = run_q($victim, 'SELECT pg_backend_pid()');
like(run_q($victim, $visible_sum), qr/^\d+$/, 'the victim reads through the store');
$node->safe_psql('postgres', q{SELECT personalize.withdraw_consent(s, 'recommendation') FROM generate_series(1, 300, 2) s});
$_->quit for @readers, $writer;
kill 'KILL', $pid;
$victim->quit;
$node->poll_query_until('postgres', 'SELECT true') or die 'no restart after the crash';
is($node->safe_psql('postgres', q{SELECT count(*) FROM personalize.consent_store()}), '0',
	'after the crash restart no store is left');
is($node->safe_psql('postgres', qq{SET ROLE app; SET personalize.purpose = 'recommendation'; $visible_sum}),
	expected_sum($node), 'the first reader after the restart sees exactly the consented rows');
is($node->safe_psql('postgres', q{SELECT state || ' ' || builds FROM personalize.consent_store() WHERE database = current_database()}),
	'ready 1', 'from a store it rebuilt');

# ---- a hot standby: replayed consent changes reach its readers ---------------
$node->backup('b');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($node, 'b', has_streaming => 1);
$standby->start;
$node->wait_for_catchup($standby);
my $sr = session($standby, 'app');
is(run_q($sr, $visible_sum), expected_sum($node), 'a standby reader sees the consented rows');
$node->safe_psql('postgres', q{SELECT personalize.withdraw_consent(s, 'recommendation') FROM generate_series(400, 450) s});
$node->wait_for_catchup($standby);
is(run_q($sr, $visible_sum), expected_sum($node), 'a withdrawal replayed on the standby reaches its reader\'s next statement');
$node->safe_psql('postgres', q{SELECT personalize.set_consent(s, 'recommendation', 'personalization') FROM generate_series(400, 420) s});
$node->wait_for_catchup($standby);
is(run_q($sr, $visible_sum), expected_sum($node), 'and so does a new consent');
$sr->quit;
$standby->stop;

# ---- the update from 0.1.0 installs the same triggers and functions ----------
# (test/sql/catalog_fingerprint.sql, restricted to what the store adds: the
# triggers of personalize.consents, consents_changed(), consent_store())
my $fingerprint = slurp_file('test/sql/catalog_fingerprint.sql');
sub store_fingerprint
{
	my ($db, @create) = @_;
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, $_) for @create;
	my $out = $node->safe_psql($db, $fingerprint, extra_params => ['--record-separator-zero']);
	return join("\n", grep { /consents_changed|consents_truncated|consent_store|ON personalize\.consents\b/ } split /\0/, $out);
}
my $fresh = store_fingerprint('fresh', 'CREATE EXTENSION personalize');
my $updated = store_fingerprint('updated', q{CREATE EXTENSION personalize VERSION '0.1.0'},
	'ALTER EXTENSION personalize UPDATE');
like($fresh, qr/TRIGGER consents_changed AFTER INSERT OR DELETE OR UPDATE ON personalize.consents FOR EACH ROW .* enabled A/,
	'a fresh install has the row trigger, enabled ALWAYS');
unlike($fresh, qr/invalidate_visibility/, 'and no generic invalidation trigger on consents');
is($updated, $fresh, 'an install updated from 0.1.0 has the same consents triggers and store functions');

# ---- logical replication: the apply worker's writes reach the store ---------
# It fires row triggers enabled REPLICA or ALWAYS and no statement triggers
# (TRUNCATE it replays with its statement triggers): consents_changed() is
# enabled ALWAYS, so a subscriber's readers see what it applies.
my $pub = PostgreSQL::Test::Cluster->new('publisher');
$pub->init(allows_streaming => 'logical');
$pub->append_conf('postgresql.conf', "shared_preload_libraries = 'personalize'\npersonalize.databases = ''");
$pub->start;
my $sub = PostgreSQL::Test::Cluster->new('subscriber');
$sub->init;
$sub->append_conf('postgresql.conf', "shared_preload_libraries = 'personalize'\npersonalize.databases = ''");
$sub->start;
for my $n ($pub, $sub)
{
	setup($n);
}
consent_all($pub, 'personalization');
$pub->safe_psql('postgres', 'CREATE PUBLICATION consents FOR TABLE personalize.consents');
$sub->safe_psql('postgres', 'CREATE SUBSCRIPTION consents CONNECTION $c$' . $pub->connstr('postgres')
	  . '$c$ PUBLICATION consents');
$sub->wait_for_subscription_sync($pub, 'consents');
my $sr2 = session($sub, 'app');
is(run_q($sr2, $visible_sum), sum_to($N), 'a subscriber reads the consents its initial sync copied');
$pub->safe_psql('postgres', q{SELECT personalize.withdraw_consent(s, 'recommendation') FROM generate_series(1, 100) s});
$pub->wait_for_catchup('consents');
is(run_q($sr2, $visible_sum), sum_to($N) - sum_to(100), 'withdrawals the apply worker writes reach its next statement');
is($sub->safe_psql('postgres', q{SELECT state FROM personalize.consent_store() WHERE database = current_database()}),
	'ready', 'applied to the store in place');
$pub->safe_psql('postgres', 'TRUNCATE personalize.consents');
$pub->wait_for_catchup('consents');
is(run_q($sr2, $visible_sum), '0', 'a replicated TRUNCATE too');
$pub->safe_psql('postgres', q{SELECT personalize.set_consent(s, 'recommendation', 'personalization') FROM generate_series(1, 10) s});
$pub->wait_for_catchup('consents');
is(run_q($sr2, $visible_sum), sum_to(10), 'and consents given again');
$sr2->quit;
$sub->stop;
$pub->stop;

# ---- a server without the library preloaded: per-backend loads --------------
my $plain = PostgreSQL::Test::Cluster->new('plain');
$plain->init;
$plain->append_conf('postgresql.conf', 'max_prepared_transactions = 2');
$plain->start;
setup($plain);
consent_all($plain, 'personalization');
my $pr = session($plain, 'app');
my $pw = session($plain, 'postgres');
is(run_q($pr, $visible_sum), sum_to($N), 'without preloading, the app reads the consented rows');
@wrong = ();
for my $subject (1 .. 10)
{
	run_q($pw, "SELECT personalize.withdraw_consent($subject, 'recommendation')");
	my $got = run_q($pr, $visible_sum);
	push @wrong, "after $subject: $got" if $got ne sum_to($N) - sum_to($subject);
}
is(join('; ', @wrong), '', 'each withdrawal reaches the other session\'s next statement');
run_q($pw, 'BEGIN');
run_q($pw, "SELECT personalize.withdraw_consent(s, 'recommendation') FROM generate_series(11, 20) s");
run_q($pw, "SET LOCAL personalize.purpose = 'recommendation'");
run_q($pw, 'SET LOCAL ROLE app');
is(run_q($pw, $visible_sum), sum_to($N) - sum_to(20), 'the transaction sees its own withdrawals');
run_q($pw, 'RESET ROLE');
like(run_q($pw, q{PREPARE TRANSACTION 'x'}), qr/cannot PREPARE a transaction that changed personalize.consents/,
	'PREPARE is refused after a consent change');
is(run_q($pr, $visible_sum), sum_to($N) - sum_to(10), 'nothing of it reached the other session');
is($plain->safe_psql('postgres', 'SELECT count(*) FROM personalize.consent_store()'), '0',
	'consent_store() lists nothing without preloading');
$pr->quit;
$pw->quit;
$plain->stop;

$node->stop;
done_testing();
