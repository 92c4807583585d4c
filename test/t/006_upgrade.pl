# The update paths: a database created at an earlier release and brought
# up with ALTER EXTENSION personalize UPDATE must hold the same extension
# catalogue as a fresh install (test/sql/catalog_fingerprint.sql), carry
# its data and protections over, and pass the regression suite.  0.1.0
# updates through 0.2.0, 0.3.0 and 0.4.0, so every script is exercised.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $previous = '0.1.0';
my @releases = ('0.1.0', '0.2.0', '0.3.0', '0.4.0');
my $node = PostgreSQL::Test::Cluster->new('upgrade');
$node->init;
# no background jobs: they would write to the databases being compared
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'personalize'\npersonalize.databases = ''");
$node->start;

my $current = $node->safe_psql('postgres',
	"SELECT default_version FROM pg_available_extensions WHERE name = 'personalize'");
my $fingerprint_sql = slurp_file('test/sql/catalog_fingerprint.sql');

sub fingerprint
{
	my ($db) = @_;
	return $node->safe_psql($db, $fingerprint_sql);
}

$node->safe_psql('postgres', 'CREATE DATABASE fresh');
$node->safe_psql('fresh', 'CREATE EXTENSION personalize');

# At the previous release: an application set up as its README said, with
# what the update must carry over or correct.
$node->safe_psql('postgres', 'CREATE DATABASE updated');
$node->safe_psql('updated', qq{
	CREATE EXTENSION personalize VERSION '$previous';
	CREATE ROLE upd_app;
	CREATE ROLE upd_other;
	SELECT personalize.grant_purpose('upd_app', 'recommendation');
	SELECT personalize.create_purpose('marketing.email', 'Newsletters', 'personalization');
	SELECT personalize.create_purpose('dynamic_pricing', 'Prices per visitor', 'enhanced', true);
	CREATE SCHEMA shop;
	CREATE TABLE shop.events (user_id bigint, day date, what text) PARTITION BY RANGE (day);
	CREATE TABLE shop.events_2024 PARTITION OF shop.events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
	CREATE TABLE shop.likes (customer_id bigint, product_id bigint, UNIQUE (customer_id, product_id));
	GRANT USAGE ON SCHEMA shop TO upd_app;
	GRANT SELECT, INSERT ON shop.events, shop.events_2024, shop.likes TO upd_app;
	SELECT personalize.protect('shop.events', 'user_id', 'browsing_history');
	SELECT personalize.protect('shop.likes', 'customer_id', 'preferences');
	INSERT INTO shop.events VALUES (1, '2024-05-01', 'view'), (2, '2024-05-01', 'view');
	INSERT INTO shop.likes VALUES (2, 7);
	SELECT personalize.set_consent(1, 'recommendation', 'personalization');
});
is($node->safe_psql('updated',
		"SELECT extversion FROM pg_extension WHERE extname = 'personalize'"),
	$previous, "installed at $previous");

# The new library refuses to read an old registry, and says what to do.
my ($rc, $out, $err) = $node->psql('updated', q{SET ROLE upd_app; SET personalize.purpose = 'recommendation'});
like($err, qr/extension in this database is at version $previous, its library at version $current.*\n.*ALTER EXTENSION personalize UPDATE/,
	'before the update, reading under a purpose is refused with a hint to update');

($rc, $out, $err) = $node->psql('updated', 'ALTER EXTENSION personalize UPDATE');
is($rc, 0, "ALTER EXTENSION personalize UPDATE to $current") or diag($err);
like($err, qr/purpose "dynamic_pricing" decides prices or terms/,
	'the update says which purposes it stopped reading personal data');
is($node->safe_psql('updated',
		"SELECT extversion FROM pg_extension WHERE extname = 'personalize'"),
	$current, "now at $current");

my @fresh = split /\n/, fingerprint('fresh');
ok(@fresh > 500, 'the fingerprint describes the catalogue (' . scalar(@fresh) . ' lines)');

sub same_catalogue
{
	my ($db, $from) = @_;
	my @updated = split /\n/, fingerprint($db);
	my %in_fresh = map { $_ => 1 } @fresh;
	my %in_updated = map { $_ => 1 } @updated;
	my @missing = grep { !$in_updated{$_} } @fresh;
	my @extra = grep { !$in_fresh{$_} } @updated;
	is(scalar(@missing) + scalar(@extra), 0, "the catalogue updated from $from is the fresh one")
	  or diag(join("\n", (map { "only in fresh:   $_" } @missing[0 .. ($#missing < 20 ? $#missing : 19)]),
			(map { "only in updated: $_" } @extra[0 .. ($#extra < 20 ? $#extra : 19)])));
}
same_catalogue('updated', $previous);

# From 0.2.0: the jobs arrive, built in and owned by whoever updated.
$node->safe_psql('postgres', 'CREATE DATABASE updated_020');
$node->safe_psql('updated_020', q{
	CREATE EXTENSION personalize VERSION '0.2.0';
	ALTER EXTENSION personalize UPDATE;
});
same_catalogue('updated_020', '0.2.0');

# From 0.3.0: the privacy budget and the membership-inference gate arrive.
$node->safe_psql('postgres', 'CREATE DATABASE updated_030');
$node->safe_psql('updated_030', q{
	CREATE EXTENSION personalize VERSION '0.3.0';
	ALTER EXTENSION personalize UPDATE;
});
same_catalogue('updated_030', '0.3.0');

# From 0.4.0: EASE, the log_idf weighting's idf column and the retrain job
# that replays an ALS model's flat ridge arrive.
$node->safe_psql('postgres', 'CREATE DATABASE updated_040');
$node->safe_psql('updated_040', q{
	CREATE EXTENSION personalize VERSION '0.4.0';
	ALTER EXTENSION personalize UPDATE;
});
same_catalogue('updated_040', '0.4.0');
is($node->safe_psql('updated_020', q{
	SELECT string_agg(job_name || ':' || enabled || ':' || owner, ' ' ORDER BY job_name) FROM personalize.jobs}),
	join(' ', map { "$_:true:" . $node->safe_psql('postgres', 'SELECT current_user') } qw(drift retention retrain)),
	'the built-in jobs exist after the update');

# What the update carried over and corrected.
is($node->safe_psql('updated', q{
	SELECT string_agg(name || ':' || decides_terms || ':' || personal_data_allowed || ':' || inherits, ' ' ORDER BY name)
	  FROM personalize.purposes WHERE NOT builtin OR name = 'pricing'}),
	'dynamic_pricing:true:false:false marketing.email:false:true:true pricing:true:false:false',
	'sub-purposes keep inheriting; pricing purposes decide terms and read nothing personal');
is($node->safe_psql('updated', q{
	SELECT has_table_privilege('upd_app', 'personalize.interactions', 'SELECT')
	       || ' ' || has_table_privilege('upd_other', 'personalize.interactions', 'SELECT')}),
	'true false', 'SELECT on interactions: the purpose holder keeps it, PUBLIC loses it');
is($node->safe_psql('updated', q{
	SELECT string_agg(table_name || ':' || coalesce(inherited_from::text, '-'), ' ' ORDER BY table_name::text)
	  FROM personalize.protection_status WHERE table_name::text LIKE 'shop.%'}),
	'shop.events:- shop.events_2024:shop.events shop.likes:-',
	'a partition left open by the previous release is protected');
like($node->safe_psql('updated', q{
	SELECT pg_get_expr(polwithcheck, polrelid) FROM pg_policy
	 WHERE polrelid = 'shop.likes'::regclass AND polname = 'personalize_consent'}),
	qr/row_writable/, 'an existing protected table gets the write check');
like($node->safe_psql('updated', q{
	SELECT pg_get_expr(polqual, polrelid) FROM pg_policy
	 WHERE polrelid = 'shop.likes'::regclass AND polname = 'personalize_base'}),
	qr/protection_base/, 'and a base policy that goes with the extension');
is($node->safe_psql('updated', q{
	SET ROLE upd_app;
	SET personalize.purpose = 'recommendation';
	SELECT (SELECT count(*) FROM shop.events_2024) || ' '
	       || (SELECT count(*) FROM shop.events)}),
	'1 1', 'the partition read directly shows only the consented row');
($rc, $out, $err) = $node->psql('updated', q{
	SET ROLE upd_app;
	SET personalize.purpose = 'recommendation';
	INSERT INTO shop.likes VALUES (2, 7) ON CONFLICT DO NOTHING});
like($err, qr/row-level security policy/, 'key probing of a hidden subject is refused after the update');

# The regression suite passes against a database updated from each release.
# make test passes the suite's test list (the Makefile's REGRESS)
my @tests = split ' ', $ENV{PZ_REGRESS_TESTS} // '';
die "PZ_REGRESS_TESTS is not set: run this test through make test" unless @tests;
foreach my $from (@releases)
{
	(my $db = "regress_from_$from") =~ s/\./_/g;
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, qq{
		CREATE EXTENSION personalize VERSION '$from';
		ALTER EXTENSION personalize UPDATE;
	});
	my $outdir = "${PostgreSQL::Test::Utils::tmp_check}/$db";
	mkdir $outdir;
	my $ok = system($ENV{PG_REGRESS}, '--inputdir=.', "--outputdir=$outdir", '--use-existing',
		'--host=' . $node->host, '--port=' . $node->port, "--dbname=$db",
		'--load-extension=personalize', @tests) == 0;
	ok($ok, "the regression suite passes on a database updated from $from")
	  or diag(slurp_file("$outdir/regression.diffs"));
}

$node->stop;
done_testing();
