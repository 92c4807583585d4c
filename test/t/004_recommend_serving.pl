# recommend() across sessions: concurrent callers while the active model is
# swapped and the catalogue changes (never an error, never a short list),
# one shared snapshot serving several sessions, and a withdrawal made in one
# session reaching the next call of another.
use strict;
use warnings;
use File::Spec;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('serving');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'personalize'\npersonalize.databases = ''");
$node->start;

my $gen = File::Spec->rel2abs('test/gen/generate.sql');
$node->safe_psql('postgres', q{
	CREATE EXTENSION personalize;
	CREATE ROLE app LOGIN;
	SELECT personalize.grant_purpose('app', 'recommendation');
});
$node->command_ok(
	[ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-v', 'subjects=300', '-v', 'items=200',
	  '-v', 'interactions=8000', '-d', $node->connstr('postgres'),
	  '-f', $gen ],
	'synthetic data loaded');

my $pop = $node->safe_psql('postgres', q{SELECT personalize.train('popularity', activate => 'always')});
my $knn = $node->safe_psql('postgres', q{SELECT personalize.train('itemknn', activate => 'always')});
my $als = $node->safe_psql('postgres',
	q{SELECT personalize.train('als', factors => 8, iterations => 5, activate => 'always')});

# Readers fail (division by zero) unless every call returns a full list of
# distinct items.  The writer swaps the active model among three algorithms
# and flips a sponsored flag, so snapshots are rebuilt under load.
my $reader = q{
\set s random(1, 320)
SELECT CASE WHEN count(*) = 10 AND count(DISTINCT item_id) = 10 THEN 1
            ELSE 1 / (count(*) - count(*)) END
  FROM personalize.recommend(:s, k => 10);
};
my $writer = qq{
\\set m random(0, 2)
SELECT personalize.activate_model((ARRAY[$pop, $knn, $als])[:m + 1]);
UPDATE personalize.items SET sponsored = NOT sponsored WHERE item_id = 1 + :m;
};
$node->pgbench('-n -c 4 -j 2 -t 100', 0, [qr{processed: 400/400}], [qr{^$}],
	'concurrent calls never fail or come up short while models and the catalogue change',
	{ 'reader.sql@5' => $reader, 'writer.sql@1' => $writer });

# The last activation is what the next call serves.
$node->safe_psql('postgres', "SELECT personalize.activate_model($als)");
like($node->safe_psql('postgres',
	q{SELECT string_agg(DISTINCT split_part(reason, ' ', 1), ',') FROM personalize.recommend(1, exploration => 0)}),
	qr/Because/, 'after the swaps, the ALS model serves with its reasons');

# A withdrawal in one session reaches the next call of another, at once.
my $subject = $node->safe_psql('postgres', q{
	SELECT subject_id FROM personalize.consents c
	 WHERE purpose = 'recommendation' AND personalize.tier(consent) = 'personalization'
	 ORDER BY subject_id LIMIT 1});
my $app = $node->background_psql('postgres', on_error_stop => 0, extra_params => [ '-U', 'app' ]);
my $reasons = qq{SELECT string_agg(DISTINCT split_part(reason, ' ', 1), ',' ORDER BY split_part(reason, ' ', 1))
	FROM personalize.recommend($subject, exploration => 0)};
is($app->query($reasons), 'Because', 'the app gets a personalized list');
$node->safe_psql('postgres', "SELECT personalize.withdraw_consent($subject, 'recommendation')");
is($app->query($reasons), 'Popular', 'the next call after a withdrawal elsewhere is not personalized');
$node->safe_psql('postgres', "SELECT personalize.set_consent($subject, 'recommendation', 'personalization')");
is($app->query($reasons), 'Because', 'and a new consent personalizes again');

# A catalogue change committed elsewhere: the sponsored flag is disclosed at once.
my $top = $app->query(qq{SELECT item_id FROM personalize.recommend($subject, k => 1, exploration => 0)});
$node->safe_psql('postgres', "UPDATE personalize.items SET sponsored = true WHERE item_id = $top");
like($app->query(qq{SELECT reason FROM personalize.recommend($subject, k => 10, exploration => 0, sponsored_share => 1)
	WHERE item_id = $top}), qr/^Sponsored: /, 'a newly sponsored item is disclosed on the next call');
$app->quit;

# One snapshot per purpose, shared by every session: eight fresh sessions
# calling recommend() find the one that exists instead of building their own.
my $before = $node->safe_psql('postgres',
	q{SELECT model_id || '/' || catalogue_version FROM personalize.serving_snapshots()});
$node->pgbench('-n -c 8 -j 2 -t 5 -C', 0, [qr{processed: 40/40}], [qr{^$}],
	'eight sessions, reconnecting per call',
	{ 'call.sql' => "SELECT count(*) FROM personalize.recommend(1);\n" });
is($node->safe_psql('postgres',
	q{SELECT count(*) || ' ' || string_agg(model_id || '/' || catalogue_version, ',') FROM personalize.serving_snapshots()}),
	"1 $before", 'still the one shared snapshot');

$node->stop;
done_testing();
