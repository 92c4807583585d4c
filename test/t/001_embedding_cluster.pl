# Multi-process behaviour of the embedding types on a real cluster with the
# library preloaded: binary COPY between tables, pg_dump/restore, concurrent
# writers, and a backend crash in the middle of a scan.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use File::Spec;
use Time::HiRes qw(usleep);

my $node = PostgreSQL::Test::Cluster->new('embedding');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'personalize'\npersonalize.databases = ''\nrestart_after_crash = on");
$node->start;

$node->safe_psql('postgres', q{
	CREATE EXTENSION personalize;
	CREATE TABLE items (id int PRIMARY KEY, e personalize.embedding(16), q personalize.embedding8(16));
	INSERT INTO items
	SELECT i, e, e FROM (
		SELECT i, array_agg(sin(i * j)::real ORDER BY j)::personalize.embedding AS e
		  FROM generate_series(1, 2000) i, generate_series(1, 16) j GROUP BY i) s;
});
is($node->safe_psql('postgres', 'SELECT count(*) FROM items'), '2000', 'loaded 2000 rows');
like($node->safe_psql('postgres', 'SELECT personalize.simd_level()'),
	qr/^(generic|avx2\+fma|avx512)$/, 'kernels chosen at preload');

# Binary COPY out of one table and into another gives identical values.
my $file = File::Spec->rel2abs($node->basedir) . '/items.bin';
$node->safe_psql('postgres', qq{
	COPY items TO '$file' (FORMAT binary);
	CREATE TABLE items2 (LIKE items);
	COPY items2 FROM '$file' (FORMAT binary);
});
is($node->safe_psql('postgres',
	'SELECT count(*) FROM items a JOIN items2 b USING (id) WHERE a.e::text = b.e::text AND a.q::text = b.q::text'),
	'2000', 'binary COPY round trip keeps every value');

# A truncated binary file is rejected and leaves nothing half-loaded.
my $bytes = slurp_file($file);
open(my $fh, '>:raw', "$file.cut") or die;
print $fh substr($bytes, 0, int(length($bytes) / 2));
close $fh;
my ($rc, $out, $err) = $node->psql('postgres',
	"CREATE TABLE items3 (LIKE items); COPY items3 FROM '$file.cut' (FORMAT binary)");
isnt($rc, 0, 'truncated binary COPY fails');
is($node->safe_psql('postgres', 'SELECT count(*) FROM items3'), '0', 'and loads no row');

# pg_dump / restore through the text form.
$node->safe_psql('postgres', 'CREATE DATABASE restored');
my $dump = File::Spec->rel2abs($node->basedir) . '/dump.sql';
$node->command_ok([ 'pg_dump', '-d', $node->connstr('postgres'), '-f', $dump ], 'pg_dump');
$node->command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('restored'), '-f', $dump ],
	'restore');
is($node->safe_psql('restored',
	q{SELECT md5(string_agg(e::text || q::text, '|' ORDER BY id)) FROM items}),
	$node->safe_psql('postgres',
	q{SELECT md5(string_agg(e::text || q::text, '|' ORDER BY id)) FROM items}),
	'dump and restore preserve embeddings exactly');

# Concurrent writers: pgbench clients insert and query at once.
$node->safe_psql('postgres', 'CREATE TABLE w (e personalize.embedding(4))');
$node->pgbench('-n -c 4 -j 2 -t 200', 0, [qr{processed: 800/800}], [qr{^$}],
	'concurrent inserts and nearest-neighbour queries',
	{ 'w.sql' => q{
		INSERT INTO w SELECT ARRAY[random(), random(), random(), random()]::personalize.embedding;
		SELECT count(*) FROM (SELECT e FROM w ORDER BY e OPERATOR(personalize.<->) '[0.5,0.5,0.5,0.5]' LIMIT 5) s;
	} });
is($node->safe_psql('postgres', 'SELECT count(*) FROM w'), '800', 'all concurrent inserts landed');

# A backend killed mid-scan: the postmaster recovers and the data is intact.
my $sleeper = IPC::Run::start(
	[ 'psql', '-X', '-d', $node->connstr('postgres'), '-c',
	  q{SELECT /* long_scan */ count(*) FROM items a, items b, generate_series(1, 100000) g
	     WHERE (a.e OPERATOR(personalize.<->) b.e) >= 0} ],
	'>', \my $sout, '2>', \my $serr);
$node->poll_query_until('postgres',
	q{SELECT count(*) > 0 FROM pg_stat_activity WHERE query LIKE '%long_scan%' AND pid <> pg_backend_pid()})
  or die 'scan did not start';
my $pid = $node->safe_psql('postgres',
	q{SELECT pid FROM pg_stat_activity WHERE query LIKE '%long_scan%' AND pid <> pg_backend_pid()});
kill 'KILL', $pid;
$sleeper->finish;
# psql may hit the server while it restarts; a dead pipe is not an error here.
local $SIG{PIPE} = 'IGNORE';
my $back = 0;
for (1 .. $PostgreSQL::Test::Utils::timeout_default * 10)
{
	my $rc = eval { ($node->psql('postgres', 'SELECT 1'))[0] };
	if (defined $rc && $rc == 0) { $back = 1; last; }
	usleep(100_000);
}
ok($back, 'server accepts connections again after the crash');
is($node->safe_psql('postgres',
	q{SELECT count(*) FROM items WHERE e OPERATOR(personalize.<->) e = 0}), '2000',
	'after crash recovery every row is readable');

$node->stop;
done_testing();
