# The README runs as written: every ```sql block of README.md, in order, in
# one psql session as a superuser, on a fresh database of a server with
# personalize preloaded (as a newcomer pastes them).  A statement may fail
# only where the README shows it failing, with a "-- ERROR:  <message>" line
# right after it; the message must start as shown (a trailing "..." stands
# for the rest).  Every error shown must happen.  Failures name the line of
# README.md.  A few figures the README states, which do not depend on time
# or randomness, are checked in the output of their block.
use strict;
use warnings;
use File::Basename qw(dirname);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

# tools/test.sh copies README.md next to test/; from the source tree it is
# two directories up from this file.
my ($readme) = grep { -f $_ } ($ENV{PZ_README} // (), 'README.md',
	dirname(__FILE__) . '/../../README.md');
die "README.md not found (set PZ_README)" unless defined $readme;

open my $fh, '<', $readme or die "cannot read $readme: $!";
my @lines = <$fh>;
close $fh;
chomp @lines;

# The script keeps README.md's line numbers: lines outside ```sql blocks
# become empty, and each opening fence an \echo marking the block's output.
my (@script, %expected, %block_of, %block_text);
my $block;
for my $i (0 .. $#lines)
{
	my ($line, $n) = ($lines[$i], $i + 1);
	if (!defined $block && $line =~ /^```sql\s*$/)
	{
		$block = $n;
		push @script, "\\echo '\@\@block $n'";
		next;
	}
	if (defined $block && $line =~ /^```\s*$/)
	{
		undef $block;
		push @script, '';
		next;
	}
	push @script, defined $block ? $line : '';
	next unless defined $block;
	$block_of{$n} = $block;
	$block_text{$block} .= "$line\n";

	# an error shown belongs to the statement ending on the nearest line
	# above that is neither blank nor a comment
	if ($line =~ /^\s*--\s*ERROR:\s+(.*?)\s*$/)
	{
		my $msg = $1;
		$msg =~ s/\s*\.\.\.$//;
		my $stmt = $i;
		$stmt-- while $stmt > 0 && $lines[ $stmt - 1 ] =~ /^\s*(--.*)?$/;
		die "README.md:$n: \"-- ERROR:\" follows no statement of its block"
		  if $stmt <= $block;
		$expected{$stmt} = $msg;
	}
}
die "README.md:$block: unterminated ```sql block" if defined $block;
push @script, "\\echo '\@\@end'";

my $node = PostgreSQL::Test::Cluster->new('readme');
$node->init;
# no background workers: the README's jobs are run by hand, and a scheduler
# would run them at times of its own
$node->append_conf('postgresql.conf',
	"shared_preload_libraries = 'personalize'\npersonalize.databases = ''");
$node->start;
$node->safe_psql('postgres', 'CREATE DATABASE readme');

my ($out, $err) = ('', '');
$node->psql('readme', join("\n", @script) . "\n",
	stdout => \$out, stderr => \$err, on_error_stop => 0);

like($out, qr/^\@\@end$/m, 'the session ran to the end of README.md');

# every ERROR, FATAL or PANIC psql reported, by README.md line
my (@unexpected, %seen);
for (split /\n/, $err)
{
	next unless /^psql:[^:]*:(\d+): (ERROR|FATAL|PANIC):\s+(.*)$/;
	my ($n, $level, $msg) = ($1, $2, $3);
	if ($level eq 'ERROR' && defined $expected{$n}
		&& index($msg, $expected{$n}) == 0)
	{
		$seen{$n} = 1;
		next;
	}
	push @unexpected,
	  sprintf("README.md:%d (block at line %s): %s:  %s",
		$n, $block_of{$n} // '?', $level, $msg);
}
push @unexpected, "the connection was lost: $1"
  if $err =~ /^(.*connection to server was lost.*)$/m;
ok(!@unexpected, 'no statement of README.md fails unless it shows the error')
  or diag(join("\n", @unexpected));
for my $n (sort { $a <=> $b } keys %expected)
{
	ok($seen{$n}, "README.md:$n fails as shown: $expected{$n}");
}

# the output of each block (psql -At: unaligned, tuples only)
my %out_of;
my $cur;
for (split /\n/, $out)
{
	if (/^\@\@block (\d+)$/) { $cur = $1; next; }
	$out_of{$cur} .= "$_\n" if defined $cur;
}

# figures the README states: (a statement of the block, what its output shows)
my @checks = (
	[ q{SELECT ARRAY[1,2,3]::embedding;}, qr/^\[1,2,3\]\n\{1,2\.5\}$/m ],
	[ q{purpose_chain('marketing.email')}, qr/^\{marketing\.email,marketing\}$/m ],
	[ q{consent_of(301, 'recommendation')}, qr/^none$/m ],
	[ q{row_visible(45, 'clicks', now() - interval '1 day')}, qr/^f\nt$/m ],
	[ q{SELECT personalize.purge_expired();}, qr/"clicks": 1/ ],
	[ q{recommend(42, k => 5, exploration => 0)}, qr/\|Because you (viewed|bought) \w/ ],
	[ q{ndcg_at_k('{5,3,9}', '{3}', 10)}, qr/^0\.6309297535714575\n0\.25$/m ],
	[ q{reset_subject(43)}, qr/"personalize\.interactions": 13\}\}\npersonalization$/m ],
	[ q{opt_out(44, 'browsing_history')}, qr/^1\npersonalization-browsing_history$/m ],
	[ q{sparkline(ARRAY[0.1, 0.15, 0.2, 0.7, NULL, 0.3])}, qr/^▁▁▂█ ▃$/m ],
	[ q{gini(n, 8)}, qr/^0\.625$/m ],
	[ q{recommend(42, category => 'nosuch')}, qr/./, 'no output: each statement fails' ],
);
for my $c (@checks)
{
	my ($stmt, $re, $negate) = @$c;
	my @b = grep { index($block_text{$_}, $stmt) >= 0 } keys %block_text;
	is(scalar @b, 1, "README.md has one block with $stmt") or next;
	my $got = $out_of{ $b[0] } // '';
	if ($negate)
	{
		unlike($got, $re, "README.md:$b[0]: $negate");
	}
	else
	{
		like($got, $re, "README.md:$b[0]: $stmt shows what the README says");
	}
}

$node->stop;
done_testing();
