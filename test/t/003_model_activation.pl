# Model activation under concurrent readers: while a writer flips the active
# model back and forth, readers must always see exactly one active model
# for the purpose, with its parameters present (never none, never two).
use strict;
use warnings;
use File::Spec;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('models');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'personalize'\npersonalize.databases = ''");
$node->start;

my $gen = File::Spec->rel2abs('test/gen/generate.sql');
$node->safe_psql('postgres', 'CREATE EXTENSION personalize');
$node->command_ok(
	[ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-v', 'subjects=300', '-v', 'items=120',
	  '-v', 'interactions=6000', '-d', $node->connstr('postgres'),
	  '-f', $gen ],
	'synthetic data loaded');

my $pop = $node->safe_psql('postgres', q{SELECT personalize.train('popularity', activate => 'always')});
my $als = $node->safe_psql('postgres',
	q{SELECT personalize.train('als', factors => 8, iterations => 5, activate => 'always')});
is($node->safe_psql('postgres', q{SELECT model_id FROM personalize.models WHERE status = 'active'}),
	$als, 'the model activated last is the active one');

# A reader fails (division by zero, at run time) if it ever sees a state other than one
# active model with its parameters.
my $reader = q{
SELECT CASE WHEN (SELECT count(*) FROM personalize.models
                   WHERE purpose = 'recommendation' AND status = 'active') = 1
             AND EXISTS (SELECT 1 FROM personalize.models m
                          WHERE m.status = 'active' AND m.purpose = 'recommendation'
                            AND (EXISTS (SELECT 1 FROM personalize.model_item_factors f WHERE f.model_id = m.model_id)
                                 OR EXISTS (SELECT 1 FROM personalize.model_popularity p WHERE p.model_id = m.model_id)))
            THEN 1 ELSE (SELECT 1 / count(*)::int FROM pg_class WHERE false) END;
};
my $writer = qq{
SELECT personalize.activate_model($pop);
SELECT personalize.activate_model($als);
};
$node->pgbench('-n -c 4 -j 2 -t 150', 0, [qr{processed: 600/600}], [qr{^$}],
	'readers never see zero or two active models while activations flip',
	{ 'reader.sql@3' => $reader, 'writer.sql@1' => $writer });

is($node->safe_psql('postgres',
	q{SELECT count(*) FROM personalize.models WHERE status = 'active'}), '1',
	'exactly one active model afterwards');

# A failed training leaves nothing behind: no model row, the active one unchanged.
my ($rc, $out, $err) = $node->psql('postgres', q{SELECT personalize.train('als', factors => 999)});
isnt($rc, 0, 'training with bad parameters fails');
is($node->safe_psql('postgres', q{SELECT count(*) FROM personalize.models WHERE status = 'training'}),
	'0', 'and leaves no half-made model');

$node->stop;
done_testing();
