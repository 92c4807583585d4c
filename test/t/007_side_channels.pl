# Side channels around consent that need more than one session or node:
# registry changes made with session_replication_role = replica and by the
# logical replication apply worker reaching other sessions' next statement,
# locks any role can take that must not stall recommend() or activation,
# and one database's changes leaving another's serving snapshots alone.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PzSession;

sub new_node
{
	my ($name, %opt) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(allows_streaming => $opt{logical} ? 'logical' : 0);
	$node->append_conf('postgresql.conf', "shared_preload_libraries = 'personalize'\npersonalize.databases = ''");
	$node->start;
	return $node;
}

# Items 1..10; subject s (1..10) has a row for item s in session,
# browsing_history and location; the even subjects consent (personalization)
# to recommendation: 2 rows each visible.
my $setup = q{
	CREATE EXTENSION IF NOT EXISTS personalize;
	INSERT INTO personalize.items (item_id) SELECT i FROM generate_series(1, 10) i;
	SELECT count(*) FROM (SELECT personalize.track(s, s, c) FROM generate_series(1, 10) s,
	       unnest(ARRAY['session', 'browsing_history', 'location']) c ORDER BY s, c) t;
	SELECT count(*) FROM (SELECT personalize.set_consent(s, 'recommendation', 'personalization')
	                        FROM generate_series(2, 10, 2) s) t;
};

# ---------------------------------------------------------------------------
# 1. Changes made under session_replication_role = replica (restores, manual
# replication fixes) reach sessions whose caches are loaded.
my $node = new_node('side');
$node->safe_psql('postgres', "CREATE ROLE app LOGIN; $setup");
$node->safe_psql('postgres', q{SELECT personalize.grant_purpose('app', 'recommendation')});

my $app = open_session($node, 'app');
run_q($app, "SET personalize.purpose = 'recommendation'");
is(run_q($app, 'SELECT count(*) FROM personalize.interactions'), '10', 'app sees 5 subjects x 2 rows');

sub as_replica
{
	my ($sql) = @_;
	$node->safe_psql('postgres', "SET session_replication_role = replica; $sql");
}

as_replica(q{UPDATE personalize.consents SET consent = 'none' WHERE subject_id = 2 AND purpose = 'recommendation'});
is(run_q($app, 'SELECT count(*) FROM personalize.interactions'), '8',
	'a withdrawal written in replica mode reaches the next statement');
as_replica(q{UPDATE personalize.signal_categories SET tier = 2 WHERE name = 'location'});
is(run_q($app, 'SELECT count(*) FROM personalize.interactions'), '12',
	'a category tier changed in replica mode reaches the next statement');
as_replica(q{UPDATE personalize.purposes SET max_tier = 'functional' WHERE name = 'recommendation'});
is(run_q($app, 'SELECT count(*) FROM personalize.interactions'), '4',
	'a purpose cap lowered in replica mode reaches the next statement');
as_replica(q{DELETE FROM personalize.purpose_grants WHERE role = 'app'::regrole});
like(run_q($app, 'SELECT count(*) FROM personalize.interactions'), qr/may not read personal data/,
	'a purpose grant deleted in replica mode reaches the next statement');
as_replica(q{
	INSERT INTO personalize.purpose_grants (role, purpose) VALUES ('app', 'recommendation');
	UPDATE personalize.purposes SET max_tier = 'enhanced' WHERE name = 'recommendation';
	UPDATE personalize.signal_categories SET tier = 3 WHERE name = 'location';
	UPDATE personalize.consents SET consent = 'personalization' WHERE subject_id = 2;
});
is(run_q($app, 'SELECT count(*) FROM personalize.interactions'), '10', 'and back, the same way');

# ---------------------------------------------------------------------------
# 2. Locks any role can take do not stall serving or activation.
my $m1 = $node->safe_psql('postgres', q{SELECT personalize.train('popularity', activate => 'always')});
my $m2 = $node->safe_psql('postgres', q{SELECT personalize.train('popularity', activate => 'never', seed => 2)});
$node->safe_psql('postgres', 'CREATE ROLE mallory LOGIN');
my $mallory = open_session($node, 'mallory');
# every advisory key that could name the snapshot build or an activation
run_q($mallory, q{
	SELECT pg_advisory_lock(x'707A7376'::int, 0), pg_advisory_lock(x'707A7376'::int, 2),
	       pg_advisory_lock(x'707A7376'::bigint), pg_advisory_lock(x'707A7376'::bigint << 32),
	       pg_advisory_lock(hashtext('personalize.activate'), hashtext('recommendation'))});
is(run_q($mallory, q{SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()}),
	'5', 'another role holds the advisory locks');
my $caller = open_session($node, 'app');
run_q($caller, "SET statement_timeout = '60s'");
$node->safe_psql('postgres', q{UPDATE personalize.items SET sponsored = true WHERE item_id = 2});
is(run_q($caller, q{SELECT count(*) FROM personalize.recommend(2, k => 3, exploration => 0)}), '3',
	'a snapshot build is not stalled by them');
$node->safe_psql('postgres', "SET statement_timeout = '60s'; SELECT personalize.activate_model($m2)");
is($node->safe_psql('postgres', "SELECT status FROM personalize.models WHERE model_id = $m2"),
	'active', 'nor is an activation');
# the build lock itself is invisible to SQL's advisory functions
run_q($mallory, 'SELECT pg_advisory_unlock_all()');

# ---------------------------------------------------------------------------
# 3. One database's catalogue changes do not rebuild another's snapshot.
$node->safe_psql('postgres', 'CREATE DATABASE other');
$node->safe_psql('other', "$setup");
$node->safe_psql('other', q{SELECT personalize.train('popularity', activate => 'always')});
$node->safe_psql('other', q{SELECT count(*) FROM personalize.recommend(2)});
my $before = $node->safe_psql('other', q{SELECT catalogue_version FROM personalize.serving_snapshots()});
$node->safe_psql('postgres', q{UPDATE personalize.items SET sponsored = NOT sponsored WHERE item_id = 3});
$node->safe_psql('postgres', q{SELECT count(*) FROM personalize.recommend(2)});
$node->safe_psql('other', q{SELECT count(*) FROM personalize.recommend(2)});
is($node->safe_psql('other', q{SELECT catalogue_version FROM personalize.serving_snapshots()}), $before,
	'a catalogue change in one database leaves the other database\'s snapshot in place');
$node->safe_psql('other', q{UPDATE personalize.items SET sponsored = true WHERE item_id = 1});
$node->safe_psql('other', q{SELECT count(*) FROM personalize.recommend(2)});
isnt($node->safe_psql('other', q{SELECT catalogue_version FROM personalize.serving_snapshots()}), $before,
	'while its own change replaces it');
$app->quit;
$mallory->quit;
$caller->quit;

# ---------------------------------------------------------------------------
# 4. DROP EXTENSION ... CASCADE takes the consent policies with it; the
# protected tables, their row-level security still forced, stay closed.
$node->safe_psql('postgres', 'CREATE DATABASE dropping');
$node->safe_psql('dropping', q{
	CREATE EXTENSION personalize;
	CREATE ROLE drop_owner;
	CREATE TABLE orders (customer_id bigint, amount int);
	INSERT INTO orders VALUES (1, 10), (2, 20);
	ALTER TABLE orders OWNER TO drop_owner;
	GRANT SELECT ON orders TO app;
	SELECT personalize.protect('orders', 'customer_id', 'purchase_history');
	DROP EXTENSION personalize CASCADE;
});
is($node->safe_psql('dropping', q{
	SELECT count(*) FROM pg_policy WHERE polrelid = 'orders'::regclass}), '0',
	'no policy is left behind on a protected table');
is($node->safe_psql('dropping', q{
	SET ROLE app; SELECT count(*) FROM orders}), '0', 'the application reads nothing');
is($node->safe_psql('dropping', q{
	SET ROLE drop_owner; SELECT count(*) FROM orders}), '0', 'nor does the owner');

# ---------------------------------------------------------------------------
# 5. Dump and restore keep the protection of partitions, children and keyed
# tables as it was (the event trigger finds nothing to do during a restore).
$node->safe_psql('postgres', q{
	CREATE SCHEMA shop;
	CREATE TABLE shop.events (user_id bigint, day date) PARTITION BY RANGE (day);
	CREATE TABLE shop.events_2024 PARTITION OF shop.events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
	CREATE TABLE shop.likes (customer_id bigint, product_id bigint, UNIQUE (customer_id, product_id));
	GRANT USAGE ON SCHEMA shop TO app;
	GRANT SELECT, INSERT ON shop.events, shop.events_2024, shop.likes TO app;
	SELECT personalize.protect('shop.events', 'user_id', 'browsing_history');
	SELECT personalize.protect('shop.likes', 'customer_id', 'preferences');
	INSERT INTO shop.events VALUES (1, '2024-05-01'), (2, '2024-05-01');
	INSERT INTO shop.likes VALUES (1, 7);
});
my $dump = $node->basedir . '/side.sql';
$node->command_ok([ 'pg_dump', '-d', $node->connstr('postgres'), '-f', $dump ], 'pg_dump');
$node->safe_psql('postgres', 'CREATE DATABASE restored');
$node->command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('restored'), '-f', $dump ],
	'restore');
my $status = q{SELECT string_agg(table_name || ':' || coalesce(inherited_from::text, '-') || ':' || policy_present
	|| ':' || rls_forced, ' ' ORDER BY table_name::text) FROM personalize.protection_status WHERE table_name::text LIKE 'shop.%'};
is($node->safe_psql('restored', $status), $node->safe_psql('postgres', $status),
	'protection_status is the same after a restore');
is($node->safe_psql('restored', $status),
	'shop.events:-:true:true shop.events_2024:shop.events:true:true shop.likes:-:true:true',
	'partition included');
is($node->safe_psql('restored', q{SET ROLE app; SET personalize.purpose = 'recommendation';
	SELECT (SELECT count(*) FROM shop.events_2024) || ' ' || (SELECT count(*) FROM shop.likes)}),
	'1 0', 'the restored partition shows only the consented row; the keyed table hides 1 (no consent)');
my ($rc, $out, $err) = $node->psql('restored', q{SET ROLE app; SET personalize.purpose = 'recommendation';
	INSERT INTO shop.likes VALUES (1, 7) ON CONFLICT DO NOTHING});
like($err, qr/row-level security policy/, 'and still refuses key probing of a hidden subject');

# ---------------------------------------------------------------------------
# 6. The logical replication apply worker fires row triggers only: consent,
# grant, category and catalogue changes it applies reach the subscriber's
# sessions and snapshots.
my $pub = new_node('publisher', logical => 1);
my $sub = new_node('subscriber');
for my $n ($pub, $sub)
{
	$n->safe_psql('postgres', "CREATE ROLE app LOGIN; $setup");
}
$pub->safe_psql('postgres', q{
	SELECT personalize.grant_purpose('app', 'recommendation');
	CREATE PUBLICATION pz FOR TABLE personalize.consents, personalize.purpose_grants,
		personalize.signal_categories, personalize.items;
});
# the subscriber starts from the same registry, then follows the publisher
$sub->safe_psql('postgres', q{
	SELECT personalize.grant_purpose('app', 'recommendation');
	SELECT personalize.train('popularity', activate => 'always');
});
my $pubconn = $pub->connstr('postgres');
$sub->safe_psql('postgres', "CREATE SUBSCRIPTION pz CONNECTION \$\$$pubconn\$\$ PUBLICATION pz WITH (copy_data = false)");
$pub->wait_for_catchup('pz');

my $reader = open_session($sub, 'app');
run_q($reader, "SET personalize.purpose = 'recommendation'");
is(run_q($reader, 'SELECT count(*) FROM personalize.interactions'), '10', 'subscriber: app sees 10 rows');

$pub->safe_psql('postgres', q{SELECT personalize.withdraw_consent(4, 'recommendation')});
$pub->wait_for_catchup('pz');
is(run_q($reader, 'SELECT count(*) FROM personalize.interactions'), '8',
	'a withdrawal applied by the replication worker reaches the next statement');
$pub->safe_psql('postgres', q{UPDATE personalize.signal_categories SET tier = 2 WHERE name = 'location'});
$pub->wait_for_catchup('pz');
is(run_q($reader, 'SELECT count(*) FROM personalize.interactions'), '12',
	'so does a category tier');
$pub->safe_psql('postgres', q{SELECT personalize.revoke_purpose('app', 'recommendation')});
$pub->wait_for_catchup('pz');
like(run_q($reader, 'SELECT count(*) FROM personalize.interactions'), qr/may not read personal data/,
	'and a revoked purpose grant');
my $top = q{SELECT item_id || ' ' || sponsored || ' ' || (reason LIKE 'Sponsored:%')
	FROM personalize.recommend(6, k => 1, exploration => 0, exclude_seen => false, sponsored_share => 1)};
my ($item) = split / /, $sub->safe_psql('postgres', $top);
$pub->safe_psql('postgres', "UPDATE personalize.items SET sponsored = true WHERE item_id = $item");
$pub->wait_for_catchup('pz');
is($sub->safe_psql('postgres', $top), "$item true true",
	'a sponsored flag applied by the replication worker is disclosed at the next call');
$reader->quit;

done_testing();
