/*
 * recommend_load.c: a closed-loop load generator for serving statements.
 *
 * N clients, each on a connection of its own, call one prepared statement
 * back to back with a random subject id as $1 (bigint, text format) and time
 * every call.  After a warm-up the clients start together; the program then
 * prints the throughput over the measured calls and the latency percentiles,
 * once for people and once for scripts:
 *
 *   label: 2 clients x 2000 calls: 1234.5 calls/s, p50 1.23 ms, p95 2.01 ms, p99 3.45 ms, max 8.90 ms, rows/call 10.0
 *   RESULT label calls_per_s p50_ms p95_ms p99_ms max_ms rows_per_call
 *
 * Any failed connection or statement prints the server's message and exits
 * with status 1: a benchmark that hides errors measures nothing.  Bad
 * arguments exit with status 2.
 *
 * Usage: recommend_load [options]
 *   -c N       concurrent clients (default 2)
 *   -n CALLS   measured calls per client (default 2000)
 *   -w WARMUP  unmeasured warm-up calls per client (default 100)
 *   -s LO:HI   subject ids, drawn uniformly from [LO, HI] (default 1:1000)
 *   -q SQL     the statement; $1 is the subject id (bigint); it may leave
 *              $1 out (default SELECT * FROM personalize.recommend($1, k => 10))
 *   -S SETUP   SQL run once on every connection before anything else
 *   -r SEED    seed of the subject sequences; client i uses SEED + i (default 1)
 *   -l LABEL   label of the output lines, no white space (default "load")
 *   -h         this help
 *
 * The connection comes from the libpq environment (PGHOST, PGPORT,
 * PGDATABASE, PGUSER, ...).
 *
 * Build:
 *   cc -O2 -Wall -Wextra -std=c99 -D_POSIX_C_SOURCE=200809L \
 *      -I$(pg_config --includedir) recommend_load.c \
 *      -L$(pg_config --libdir) -lpq -lpthread
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

/* pg_type.h is a server header; the OID of bigint is fixed. */
#define INT8_OID 20

#define STMT_NAME "recommend_load"
#define MAX_CLIENTS 1000
/* latencies are kept in memory: 8 bytes a call */
#define MAX_TOTAL_CALLS 100000000L

typedef struct Options
{
	int			clients;
	long		calls;
	long		warmup;
	int64_t		lo;
	int64_t		hi;
	const char *sql;
	const char *setup;
	uint64_t	seed;
	const char *label;
} Options;

typedef struct Client
{
	int			id;
	const Options *opt;
	pthread_t	thread;
	double	   *latency_us;		/* opt->calls entries */
	long long	rows;			/* rows returned by the measured calls */
} Client;

static pthread_barrier_t start_barrier;
static pthread_mutex_t fail_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *progname = "recommend_load";

static void
usage(FILE *out)
{
	fprintf(out,
			"Usage: %s [-c clients] [-n calls] [-w warmup] [-s lo:hi] [-q sql]\n"
			"          [-S setup-sql] [-r seed] [-l label]\n"
			"  -c N       concurrent clients, 1..%d (default 2)\n"
			"  -n CALLS   measured calls per client, >= 1 (default 2000)\n"
			"  -w WARMUP  unmeasured warm-up calls per client, >= 0 (default 100)\n"
			"  -s LO:HI   subject id range, LO <= HI (default 1:1000)\n"
			"  -q SQL     statement, $1 = subject id (bigint)\n"
			"             (default SELECT * FROM personalize.recommend($1, k => 10))\n"
			"  -S SETUP   SQL run once per connection first\n"
			"  -r SEED    seed of the subject sequences (default 1)\n"
			"  -l LABEL   label of the output, no white space (default load)\n"
			"Connection parameters come from PGHOST, PGPORT, PGDATABASE, PGUSER, ...\n",
			progname, MAX_CLIENTS);
}

static void
bad_argument(const char *fmt,...)
{
	va_list		ap;

	fprintf(stderr, "%s: ", progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fprintf(stderr, "Try \"%s -h\" for more information.\n", progname);
	exit(2);
}

/*
 * Report an error of a client (or of the program, client < 0) and end the
 * process.  The lock is never released, so a second failing client waits
 * here while the first one exits.
 */
static void
fail(int client, const char *what, const char *message)
{
	size_t		len = strlen(message);

	pthread_mutex_lock(&fail_lock);
	/* libpq messages end in a newline; print exactly one */
	while (len > 0 && message[len - 1] == '\n')
		len--;
	if (client >= 0)
		fprintf(stderr, "%s: client %d: %s: %.*s\n", progname, client, what,
				(int) len, message);
	else
		fprintf(stderr, "%s: %s: %.*s\n", progname, what, (int) len, message);
	exit(1);
}

/* A whole string as a signed 64-bit integer, or false. */
static int
parse_int64(const char *s, int64_t *result)
{
	char	   *end;
	long long	v;

	if (*s == '\0' || isspace((unsigned char) *s))
		return 0;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return 0;
	*result = (int64_t) v;
	return 1;
}

static long
parse_count(const char *opt, const char *s, long min, long max)
{
	int64_t		v;

	if (!parse_int64(s, &v) || v < min || v > max)
		bad_argument("%s must be an integer in [%ld, %ld], not \"%s\"",
					 opt, min, max, s);
	return (long) v;
}

/* "LO:HI" with LO <= HI; the text is not modified. */
static void
parse_range(const char *s, int64_t *lo, int64_t *hi)
{
	const char *colon = strchr(s, ':');
	char	   *first;
	int			ok;

	if (colon == NULL)
		bad_argument("-s needs LO:HI, not \"%s\"", s);
	first = malloc(colon - s + 1);
	if (first == NULL)
		bad_argument("out of memory");
	memcpy(first, s, colon - s);
	first[colon - s] = '\0';
	ok = parse_int64(first, lo) && parse_int64(colon + 1, hi) && *lo <= *hi;
	free(first);
	if (!ok)
		bad_argument("-s needs two integers LO:HI with LO <= HI, not \"%s\"", s);
}

static void
parse_options(int argc, char **argv, Options *opt)
{
	int			c;
	int64_t		seed;
	const char *p;

	opt->clients = 2;
	opt->calls = 2000;
	opt->warmup = 100;
	opt->lo = 1;
	opt->hi = 1000;
	opt->sql = "SELECT * FROM personalize.recommend($1, k => 10)";
	opt->setup = NULL;
	opt->seed = 1;
	opt->label = "load";

	while ((c = getopt(argc, argv, "c:n:w:s:q:S:r:l:h")) != -1)
	{
		switch (c)
		{
			case 'c':
				opt->clients = (int) parse_count("-c", optarg, 1, MAX_CLIENTS);
				break;
			case 'n':
				opt->calls = parse_count("-n", optarg, 1, MAX_TOTAL_CALLS);
				break;
			case 'w':
				opt->warmup = parse_count("-w", optarg, 0, MAX_TOTAL_CALLS);
				break;
			case 's':
				parse_range(optarg, &opt->lo, &opt->hi);
				break;
			case 'q':
				if (*optarg == '\0')
					bad_argument("-q needs a statement");
				opt->sql = optarg;
				break;
			case 'S':
				opt->setup = *optarg ? optarg : NULL;
				break;
			case 'r':
				if (!parse_int64(optarg, &seed))
					bad_argument("-r needs an integer, not \"%s\"", optarg);
				opt->seed = (uint64_t) seed;
				break;
			case 'l':
				if (*optarg == '\0')
					bad_argument("-l needs a label");
				for (p = optarg; *p; p++)
					if (isspace((unsigned char) *p))
						bad_argument("-l: the label must not contain white space: \"%s\"",
									 optarg);
				opt->label = optarg;
				break;
			case 'h':
				usage(stdout);
				exit(0);
			default:
				/* getopt() has said what is wrong */
				fprintf(stderr, "Try \"%s -h\" for more information.\n", progname);
				exit(2);
		}
	}
	if (optind < argc)
		bad_argument("unexpected argument \"%s\"", argv[optind]);
	if ((long) opt->clients * opt->calls > MAX_TOTAL_CALLS)
		bad_argument("-c x -n must not exceed %ld calls", MAX_TOTAL_CALLS);
}

/* splitmix64: small, fast, and good enough to pick subjects */
static uint64_t
next_random(uint64_t *state)
{
	uint64_t	z = (*state += UINT64_C(0x9E3779B97F4A7C15));

	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

/* Uniform in [lo, hi], without modulo bias (rejection sampling). */
static int64_t
random_subject(uint64_t *state, int64_t lo, int64_t hi)
{
	uint64_t	span = (uint64_t) hi - (uint64_t) lo;	/* hi - lo, mod 2^64 */
	uint64_t	limit,
				r;

	if (span == UINT64_MAX)
		return (int64_t) next_random(state);
	span++;
	limit = UINT64_MAX - UINT64_MAX % span;
	do
		r = next_random(state);
	while (r >= limit);
	return (int64_t) ((uint64_t) lo + r % span);
}

static double
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* Exit unless a result is a success; statements may return rows or not. */
static void
check_result(int client, const char *what, PGconn *conn, PGresult *res)
{
	ExecStatusType st = PQresultStatus(res);

	if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
		return;
	fail(client, what, res ? PQresultErrorMessage(res) : PQerrorMessage(conn));
}

/* One call of the prepared statement; returns the number of rows. */
static int
call_once(Client *cl, PGconn *conn, uint64_t *state)
{
	char		subject[24];	/* an int64 in decimal: at most 20 chars */
	const char *values[1] = {subject};
	PGresult   *res;
	int			rows;

	snprintf(subject, sizeof(subject), "%" PRId64,
			 random_subject(state, cl->opt->lo, cl->opt->hi));
	res = PQexecPrepared(conn, STMT_NAME, 1, values, NULL, NULL, 0);
	check_result(cl->id, "statement failed", conn, res);
	rows = PQntuples(res);
	PQclear(res);
	return rows;
}

static PGconn *
connect_client(Client *cl)
{
	const Options *opt = cl->opt;
	const Oid	types[1] = {INT8_OID};
	PGconn	   *conn = PQconnectdb("");
	PGresult   *res;

	if (PQstatus(conn) != CONNECTION_OK)
		fail(cl->id, "connection failed", PQerrorMessage(conn));
	if (opt->setup)
	{
		res = PQexec(conn, opt->setup);
		check_result(cl->id, "setup failed", conn, res);
		PQclear(res);
	}
	res = PQprepare(conn, STMT_NAME, opt->sql, 1, types);
	check_result(cl->id, "prepare failed", conn, res);
	PQclear(res);
	return conn;
}

static void *
run_client(void *arg)
{
	Client	   *cl = arg;
	const Options *opt = cl->opt;
	uint64_t	state = opt->seed + (uint64_t) cl->id;
	PGconn	   *conn = connect_client(cl);
	long		i;
	double		t0;

	for (i = 0; i < opt->warmup; i++)
		(void) call_once(cl, conn, &state);

	pthread_barrier_wait(&start_barrier);

	for (i = 0; i < opt->calls; i++)
	{
		t0 = now_us();
		cl->rows += call_once(cl, conn, &state);
		cl->latency_us[i] = now_us() - t0;
	}
	PQfinish(conn);
	return NULL;
}

static int
compare_double(const void *a, const void *b)
{
	double		x = *(const double *) a,
				y = *(const double *) b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile of n > 0 sorted values, q in (0, 1]. */
static double
percentile(const double *sorted, size_t n, double q)
{
	size_t		rank = (size_t) (q * n);

	if (rank < q * n)			/* rank = ceil(q * n) */
		rank++;
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return sorted[rank - 1];
}

static void
report(const Options *opt, Client *clients, double wall_us)
{
	size_t		n = (size_t) opt->clients * (size_t) opt->calls;
	double	   *all = malloc(n * sizeof(double));
	long long	rows = 0;
	double		rate,
				p50,
				p95,
				p99,
				max,
				rows_per_call;
	int			i;

	if (all == NULL)
		fail(-1, "report", "out of memory");
	for (i = 0; i < opt->clients; i++)
	{
		memcpy(all + (size_t) i * opt->calls, clients[i].latency_us,
			   opt->calls * sizeof(double));
		rows += clients[i].rows;
	}
	qsort(all, n, sizeof(double), compare_double);

	rate = n / (wall_us / 1e6);
	p50 = percentile(all, n, 0.50) / 1e3;
	p95 = percentile(all, n, 0.95) / 1e3;
	p99 = percentile(all, n, 0.99) / 1e3;
	max = all[n - 1] / 1e3;
	rows_per_call = (double) rows / n;

	printf("%s: %d clients x %ld calls: %.1f calls/s, p50 %.2f ms, p95 %.2f ms, "
		   "p99 %.2f ms, max %.2f ms, rows/call %.1f\n",
		   opt->label, opt->clients, opt->calls, rate, p50, p95, p99, max,
		   rows_per_call);
	printf("RESULT %s %.1f %.3f %.3f %.3f %.3f %.2f\n",
		   opt->label, rate, p50, p95, p99, max, rows_per_call);
	free(all);
}

int
main(int argc, char **argv)
{
	Options		opt;
	Client	   *clients;
	double		start;
	int			i,
				rc;

	if (argc > 0 && argv[0][0] != '\0')
		progname = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	parse_options(argc, argv, &opt);

	clients = calloc(opt.clients, sizeof(Client));
	if (clients == NULL)
		fail(-1, "setup", "out of memory");
	/* the main thread waits at the barrier too, to start the clock */
	rc = pthread_barrier_init(&start_barrier, NULL, opt.clients + 1);
	if (rc != 0)
		fail(-1, "pthread_barrier_init", strerror(rc));

	for (i = 0; i < opt.clients; i++)
	{
		clients[i].id = i;
		clients[i].opt = &opt;
		clients[i].latency_us = malloc(opt.calls * sizeof(double));
		if (clients[i].latency_us == NULL)
			fail(i, "setup", "out of memory");
		rc = pthread_create(&clients[i].thread, NULL, run_client, &clients[i]);
		if (rc != 0)
			fail(i, "pthread_create", strerror(rc));
	}

	pthread_barrier_wait(&start_barrier);
	start = now_us();
	for (i = 0; i < opt.clients; i++)
		pthread_join(clients[i].thread, NULL);

	report(&opt, clients, now_us() - start);

	for (i = 0; i < opt.clients; i++)
		free(clients[i].latency_us);
	free(clients);
	pthread_barrier_destroy(&start_barrier);
	return 0;
}
