# Helpers shared by the TAP tests that keep psql sessions open.
package PzSession;

use strict;
use warnings;
use Exporter 'import';

our @EXPORT = qw(open_session run_q);

# A psql session kept open as a role; errors do not end it.
sub open_session
{
	my ($node, $user, $db) = @_;
	return $node->background_psql($db // 'postgres', on_error_stop => 0,
		extra_params => [ '-U', $user ]);
}

# One statement; its output, or "ERROR: ..." when it failed.
sub run_q
{
	my ($s, $sql) = @_;
	my $out = $s->query($sql);
	my $err = $s->{stderr};
	$s->{stderr} = '';
	return $err ne '' ? "ERROR: $err" : $out;
}

1;
