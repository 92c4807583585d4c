# Consent enforcement across sessions on a real cluster with the library
# preloaded: withdrawals and purpose revocations reaching cursors opened
# before them, other isolation levels, role membership changes made by
# another session, a reader racing a stream of withdrawals, purposes set at
# connection time, and dump/restore.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

my $node = PostgreSQL::Test::Cluster->new('consent');
$node->init;
$node->append_conf('postgresql.conf',
	"shared_preload_libraries = 'personalize'\npersonalize.databases = ''");
$node->start;

# 20 subjects, each with a row in session, browsing_history, purchase_history,
# preferences (visible under a personalization consent) and location (tier 3,
# never granted): 80 rows visible to the app, 4 per subject.
$node->safe_psql('postgres', q{
	CREATE EXTENSION personalize;
	CREATE ROLE app LOGIN;
	CREATE ROLE reader NOLOGIN;
	CREATE ROLE member LOGIN IN ROLE reader;
	CREATE ROLE other LOGIN;
	SELECT personalize.grant_purpose('app', 'recommendation');
	SELECT personalize.grant_purpose('reader', 'recommendation');
	INSERT INTO personalize.items (item_id) VALUES (1);
	SELECT count(*) FROM (
		SELECT personalize.track(s, 1, c) FROM generate_series(1, 20) s,
		       unnest(ARRAY['session', 'browsing_history', 'purchase_history', 'preferences', 'location']) c
		 ORDER BY s, c) t;
});

sub consent_all
{
	$node->safe_psql('postgres', q{
		SELECT count(*) FROM (
			SELECT personalize.set_consent(s, 'recommendation', 'personalization')
			  FROM generate_series(1, 20) s) t});
}

sub withdraw
{
	my @subjects = @_;
	$node->safe_psql('postgres',
		join('', map { "SELECT personalize.withdraw_consent($_, 'recommendation');\n" } @subjects));
}

# A psql session kept open; errors do not end it.
sub session
{
	my ($user, %opt) = @_;
	return $node->background_psql($opt{dbname} // 'postgres',
		on_error_stop => 0, extra_params => [ '-U', $user ]);
}

# Run one statement; returns (output, stderr) and clears stderr.
sub run_q
{
	my ($s, $sql) = @_;
	my $out = $s->query($sql);
	my $err = $s->{stderr};
	$s->{stderr} = '';
	return ($out, $err);
}

sub count_as
{
	my ($s) = @_;
	my ($out, $err) = run_q($s, 'SELECT count(*) FROM personalize.interactions');
	return $err ne '' ? "ERROR: $err" : $out;
}

consent_all();
my $a = session('app');
run_q($a, "SET personalize.purpose = 'recommendation'");
is(count_as($a), '80', 'app sees 4 rows of each of 20 subjects');

# ---- a cursor opened before a withdrawal (READ COMMITTED) --------------
# The plan streams rows (index scan, no sort), so each row is checked when
# it is fetched.
run_q($a, 'SET enable_seqscan = off; SET enable_bitmapscan = off; SET enable_sort = off');
run_q($a, 'BEGIN');
run_q($a, 'DECLARE c CURSOR FOR SELECT subject_id FROM personalize.interactions ORDER BY interaction_id');
my ($first) = run_q($a, 'FETCH 4 FROM c');
is($first, join("\n", (1) x 4), 'the first fetch returns subject 1');
withdraw(2, 3);
my ($rest, $err) = run_q($a, 'FETCH ALL FROM c');
my @rest = split /\n/, $rest;
is($err, '', 'fetching after the withdrawal works');
is(scalar(grep { $_ == 2 || $_ == 3 } @rest), 0, 'no row of a withdrawn subject is fetched after the withdrawal');
is(scalar(@rest), 68, 'the other 17 subjects are fetched');
run_q($a, 'COMMIT');
is(count_as($a), '72', 'and the next statement sees 18 subjects');
consent_all();

# ---- the purpose revoked by another session --------------------------------
$node->safe_psql('postgres', q{SELECT personalize.revoke_purpose('app', 'recommendation')});
like(count_as($a), qr/ERROR:.*may not read personal data/, 'revoke_purpose: the next statement is refused');
$node->safe_psql('postgres', q{SELECT personalize.grant_purpose('app', 'recommendation')});
is(count_as($a), '80', 're-granted: readable again');

# ---- a cursor opened before the purpose is revoked ----------------------
run_q($a, 'BEGIN');
run_q($a, 'DECLARE c CURSOR FOR SELECT subject_id FROM personalize.interactions ORDER BY interaction_id');
run_q($a, 'FETCH 4 FROM c');
$node->safe_psql('postgres', q{SELECT personalize.revoke_purpose('app', 'recommendation')});
(my $out, $err) = run_q($a, 'FETCH ALL FROM c');
like($err, qr/may not read personal data for purpose "recommendation"/,
	'FETCH after revoke_purpose is refused');
run_q($a, 'ROLLBACK');
like(count_as($a), qr/ERROR:.*may not read personal data/,
	'and so is the next statement after the transaction');
like(count_as($a), qr/ERROR:.*may not read personal data/, 'and the one after that');
$node->safe_psql('postgres', q{SELECT personalize.grant_purpose('app', 'recommendation')});
is(count_as($a), '80', 're-granted: readable again');
run_q($a, 'RESET enable_seqscan; RESET enable_bitmapscan; RESET enable_sort');

# ---- plans that compute rows ahead of the FETCH ---------------------------
# A sort checks every row when the cursor first runs, and a WITH HOLD cursor
# at commit: rows computed before a withdrawal are returned as computed
# (README, "Consent and purpose limitation").  These tests pin that
# documented behaviour, so a change to it is noticed.
run_q($a, 'BEGIN');
run_q($a, 'DECLARE c CURSOR FOR SELECT subject_id FROM personalize.interactions ORDER BY category DESC, subject_id DESC');
run_q($a, 'FETCH 1 FROM c');
withdraw(1);
($rest) = run_q($a, 'FETCH ALL FROM c');
is(scalar(grep { $_ == 1 } split /\n/, $rest), 4,
	'sorted cursor: rows sorted before the withdrawal are returned as computed');
run_q($a, 'COMMIT');
is(count_as($a), '76', 'and the next statement no longer sees the withdrawn subject');
consent_all();

run_q($a, 'BEGIN');
run_q($a, 'DECLARE h CURSOR WITH HOLD FOR SELECT subject_id FROM personalize.interactions');
run_q($a, 'COMMIT');
withdraw(1);
($rest) = run_q($a, 'FETCH ALL FROM h');
is(scalar(grep { $_ == 1 } split /\n/, $rest), 4,
	'WITH HOLD cursor: rows materialized at commit are returned as materialized');
run_q($a, 'CLOSE h');
is(count_as($a), '76', 'and the next statement no longer sees the withdrawn subject');
consent_all();

# ---- REPEATABLE READ ------------------------------------------------------
# Inside the transaction the snapshot may keep showing the subject; once it
# ends, the next statement must not.
run_q($a, 'BEGIN ISOLATION LEVEL REPEATABLE READ');
is(count_as($a), '80', 'repeatable read: 80 before');
withdraw(1);
count_as($a);
run_q($a, 'COMMIT');
is(count_as($a), '76', 'after the repeatable read transaction the withdrawal is in effect');
is(count_as($a), '76', 'and stays in effect');
consent_all();
is(count_as($a), '80', 'consent given again: 80');

# ---- role membership revoked by another session ---------------------------
my $m = session('member');
run_q($m, "SET personalize.purpose = 'recommendation'");
is(count_as($m), '80', 'member of a granted role reads');
$node->safe_psql('postgres', 'REVOKE reader FROM member');
like(count_as($m), qr/ERROR:.*may not read personal data/,
	'membership revoked in another session: the next statement is refused');
$node->safe_psql('postgres', 'GRANT reader TO member');
$m->quit;

# ---- a reader following a stream of withdrawals ---------------------------
# Session W withdraws the 20 subjects one statement at a time; after each
# commit, reader A's very next statement must count exactly the rows of the
# subjects still consenting.  Lockstep, so no pacing or timing slack is
# needed: the guarantee under test is "from the next statement on".
consent_all();
my $w = session('postgres');
my @wrong;
for my $subject (1 .. 20)
{
	my (undef, $werr) = run_q($w, "SELECT personalize.withdraw_consent($subject, 'recommendation')");
	die "withdrawal failed: $werr" if $werr ne '';
	my $n = count_as($a);
	push @wrong, "after subject $subject: $n" if $n ne (80 - 4 * $subject);
}
is(join('; ', @wrong), '', 'each withdrawal is seen by the other session\'s next statement, exactly');
is(count_as($a), '0', 'after the last withdrawal nothing is visible');
$w->quit;
consent_all();

# ---- purposes set at connection time --------------------------------------
{
	local $ENV{PGOPTIONS} = '-c personalize.purpose=recommendation';
	my ($rc, $o, $e) = $node->psql('postgres', 'SELECT count(*) FROM personalize.interactions',
		extra_params => [ '-U', 'app' ]);
	is($e, '', 'PGOPTIONS with a granted purpose: connects without error');
	is($o, '80', 'and reads under it');
	($rc, $o, $e) = $node->psql('postgres', 'SELECT count(*) FROM personalize.interactions',
		extra_params => [ '-U', 'other' ]);
	unlike($o, qr/^[1-9]/, 'PGOPTIONS with an ungranted purpose: no rows are read');
	like($e, qr/may not (declare|read personal data for) purpose/, '... but a clear refusal');
}
$node->safe_psql('postgres', q{ALTER ROLE app IN DATABASE postgres SET personalize.purpose = 'recommendation'});
{
	my ($rc, $o, $e) = $node->psql('postgres', 'SELECT count(*) FROM personalize.interactions',
		extra_params => [ '-U', 'app' ]);
	is($e, '', 'ALTER ROLE ... SET personalize.purpose: the role can still log in');
	is($o, '80', 'and reads under the purpose');
}
$node->safe_psql('postgres', q{ALTER ROLE app IN DATABASE postgres RESET personalize.purpose});
# A database-wide default must not lock everyone (superusers included) out.
$node->safe_psql('postgres', 'CREATE DATABASE scratch');
$node->safe_psql('scratch', 'CREATE EXTENSION personalize');
$node->safe_psql('postgres', q{ALTER DATABASE scratch SET personalize.purpose = 'recommendation'});
{
	my ($rc, $o, $e) = $node->psql('scratch', 'SELECT 1');
	is($rc, 0, 'ALTER DATABASE ... SET personalize.purpose: a superuser can still connect');
	($rc, $o, $e) = $node->psql('scratch', 'SELECT count(*) FROM personalize.interactions',
		extra_params => [ '-U', 'app' ]);
	unlike($e, qr/FATAL/, 'and so can the application role');
}
$node->safe_psql('postgres', 'DROP DATABASE scratch');

# ---- dump and restore keep consents, withdrawals, grants and protection ---
withdraw(5, 6);
$node->safe_psql('postgres', q{
	CREATE TABLE orders (id int, customer bigint);
	INSERT INTO orders SELECT g, g FROM generate_series(1, 20) g;
	GRANT SELECT ON orders TO app;
	SELECT personalize.protect('orders', 'customer', 'purchase_history');
});
my $dump = $node->basedir . '/consent.sql';
$node->command_ok([ 'pg_dump', '-d', $node->connstr('postgres'), '-f', $dump ], 'pg_dump');
$node->safe_psql('postgres', 'CREATE DATABASE restored');
$node->command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('restored'), '-f', $dump ],
	'restore');
for my $db ('postgres', 'restored')
{
	my ($rc, $o, $e) = $node->psql($db, q{
		SET personalize.purpose = 'recommendation';
		SELECT (SELECT count(*) FROM personalize.interactions) || '/' || (SELECT count(*) FROM orders)},
		extra_params => [ '-U', 'app' ]);
	is($o, '72/18', "$db: 18 consented subjects in interactions and in the protected table");
}
is($node->safe_psql('restored', 'SELECT count(*) FROM personalize.consent_ledger'),
	$node->safe_psql('postgres', 'SELECT count(*) FROM personalize.consent_ledger'),
	'the ledger is restored whole');
my ($rc2, $o2, $e2) = $node->psql('restored', 'DELETE FROM personalize.consent_ledger');
like($e2, qr/append-only/, 'the restored ledger is still append-only');

$a->quit;
$node->stop;
done_testing();
