/*
 * consent.c
 *		The consent type and the tier rules that decide whether a consent
 *		allows a signal category.
 *
 * Text form: the tier, then "+category" for each explicit grant and
 * "-category" for each explicit denial, e.g.
 *		personalization+location-purchase_history
 * Output is canonical (lists sorted, duplicates dropped, a category both
 * granted and denied is denied), so equal consents print equally.
 */
#include "postgres.h"

#include "consent.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "libpq/pqformat.h"
#include "personalize.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "catalog/pg_type.h"

const char *const consent_tier_names[] = {
	"none", "functional", "personalization", "enhanced"
};

int
consent_tier_from_name(const char *name, bool missing_ok)
{
	for (int i = 0; i < lengthof(consent_tier_names); i++)
		if (strcmp(name, consent_tier_names[i]) == 0)
			return i;
	if (!missing_ok)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown consent tier \"%s\"", name),
				 errhint("Use none, functional, personalization or enhanced.")));
	return -1;
}

bool
category_name_is_valid(const char *name, int len)
{
	if (len < 1 || len > CATEGORY_NAME_MAX || name[0] < 'a' || name[0] > 'z')
		return false;
	for (int i = 1; i < len; i++)
	{
		char		c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
			return false;
	}
	return true;
}

static void
check_category_name(const char *name)
{
	if (!category_name_is_valid(name, strlen(name)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("invalid signal category name \"%s\"", name),
				 errhint("Category names are lower-case letters, digits and underscores, starting with a letter, at most %d characters.",
						 CATEGORY_NAME_MAX)));
}

/* A list of category names being built: sorted, unique. */
typedef struct NameList
{
	int			n;
	const char *names[CONSENT_MAX_CATEGORIES];
} NameList;

static int
name_index(const NameList *l, const char *name)
{
	for (int i = 0; i < l->n; i++)
		if (strcmp(l->names[i], name) == 0)
			return i;
	return -1;
}

static void
list_remove(NameList *l, const char *name)
{
	int			i = name_index(l, name);

	if (i >= 0)
	{
		memmove(&l->names[i], &l->names[i + 1], sizeof(char *) * (l->n - i - 1));
		l->n--;
	}
}

static void
list_add(NameList *l, const char *name)
{
	int			i;

	if (name_index(l, name) >= 0)
		return;
	if (l->n >= CONSENT_MAX_CATEGORIES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("a consent cannot list more than %d categories as granted or denied",
						CONSENT_MAX_CATEGORIES)));
	for (i = l->n; i > 0 && strcmp(l->names[i - 1], name) > 0; i--)
		l->names[i] = l->names[i - 1];
	l->names[i] = name;
	l->n++;
}

static Consent *
consent_build(int tier, const NameList *grant, const NameList *deny)
{
	Size		size = offsetof(Consent, names);
	Consent    *c;
	char	   *p;

	for (int i = 0; i < grant->n; i++)
		size += strlen(grant->names[i]) + 1;
	for (int i = 0; i < deny->n; i++)
		size += strlen(deny->names[i]) + 1;
	c = (Consent *) palloc0(size);
	SET_VARSIZE(c, size);
	c->tier = tier;
	c->ngrant = grant->n;
	c->ndeny = deny->n;
	p = c->names;
	for (int i = 0; i < grant->n; i++)
		p += strlen(strcpy(p, grant->names[i])) + 1;
	for (int i = 0; i < deny->n; i++)
		p += strlen(strcpy(p, deny->names[i])) + 1;
	return c;
}

/* Unpack a stored consent into name lists pointing into it. */
static void
consent_unpack(const Consent *c, NameList *grant, NameList *deny)
{
	const char *p = c->names;

	grant->n = 0;
	deny->n = 0;
	for (int i = 0; i < c->ngrant; i++, p += strlen(p) + 1)
		grant->names[grant->n++] = p;
	for (int i = 0; i < c->ndeny; i++, p += strlen(p) + 1)
		deny->names[deny->n++] = p;
}

static bool
list_contains(const char *names, int count, const char *name, int len, const char **end)
{
	const char *p = names;
	bool		found = false;

	for (int i = 0; i < count; i++)
	{
		int			plen = strlen(p);

		if (!found && plen == len && memcmp(p, name, len) == 0)
			found = true;
		p += plen + 1;
	}
	*end = p;
	return found;
}

/* Whether the consent explicitly denies a category (a per-category opt-out). */
bool
consent_denies(const Consent *c, const char *category, int len)
{
	const char *deny_start;
	const char *end;

	(void) list_contains(c->names, c->ngrant, category, len, &deny_start);
	return list_contains(deny_start, c->ndeny, category, len, &end);
}

/*
 * The tier rules.  Nothing is allowed at tier none (that is what a
 * withdrawal records); a denial always wins; an explicit grant allows its
 * category; otherwise a tier 1 category needs functional, a tier 2 category
 * needs personalization, and a tier 3 category is never allowed by the tier
 * alone.
 */
bool
consent_allows(const Consent *c, const char *category, int len, int category_tier)
{
	const char *deny_start;
	const char *end;

	if (c->tier == TIER_NONE)
		return false;
	if (list_contains(c->names, c->ngrant, category, len, &deny_start))
	{
		/* lists are disjoint, so a granted category is not denied */
		return true;
	}
	if (list_contains(deny_start, c->ndeny, category, len, &end))
		return false;
	switch (category_tier)
	{
		case 1:
			return c->tier >= TIER_FUNCTIONAL;
		case 2:
			return c->tier >= TIER_PERSONALIZATION;
		default:
			return false;
	}
}

static void
consent_syntax_error(const char *lit, bool binary, const char *detail)
	pg_attribute_noreturn();

/* The binary form is the text form, but its errors are binary-format errors. */
static void
consent_syntax_error(const char *lit, bool binary, const char *detail)
{
	ereport(ERROR,
			(errcode(binary ? ERRCODE_INVALID_BINARY_REPRESENTATION : ERRCODE_INVALID_TEXT_REPRESENTATION),
			 binary ? errmsg("incorrect binary data format for type consent: \"%s\"", lit) :
			 errmsg("invalid input syntax for type consent: \"%s\"", lit),
			 errdetail("%s", detail),
			 errhint("Write a tier followed by +category or -category items, as in \"personalization+location-purchase_history\".")));
}

static const char *
read_word(const char *p, char *buf, int bufsize)
{
	int			n = 0;

	while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		   (*p >= '0' && *p <= '9') || *p == '_')
	{
		if (n < bufsize - 1)
			buf[n] = *p;
		n++;
		p++;
	}
	buf[Min(n, bufsize - 1)] = '\0';
	if (n >= bufsize)
		buf[0] = '\0';			/* too long: reported as invalid */
	return p;
}

static Consent *
consent_parse(const char *lit, bool binary)
{
	const char *p = lit;
	char		word[CATEGORY_NAME_MAX + 2];
	int			tier;
	NameList	grant = {0},
				deny = {0};

	while (isspace((unsigned char) *p))
		p++;
	p = read_word(p, word, sizeof(word));
	tier = consent_tier_from_name(word, true);
	if (tier < 0)
		consent_syntax_error(lit, binary, "It must start with a tier: none, functional, personalization or enhanced.");

	for (;;)
	{
		char		sign;

		while (isspace((unsigned char) *p))
			p++;
		if (*p == '\0')
			break;
		if (*p != '+' && *p != '-')
			consent_syntax_error(lit, binary, "Expected \"+\" or \"-\" before each category.");
		sign = *p++;
		while (isspace((unsigned char) *p))
			p++;
		p = read_word(p, word, sizeof(word));
		if (!category_name_is_valid(word, strlen(word)))
			consent_syntax_error(lit, binary, "Category names are lower-case letters, digits and underscores, starting with a letter.");
		if (sign == '+')
		{
			if (name_index(&deny, word) < 0)
				list_add(&grant, pstrdup(word));
		}
		else
		{
			list_remove(&grant, word);
			list_add(&deny, pstrdup(word));
		}
	}
	return consent_build(tier, &grant, &deny);
}

PZ_FUNCTION(consent_in)
{
	PG_RETURN_POINTER(consent_parse(PG_GETARG_CSTRING(0), false));
}

static char *
consent_to_cstring(const Consent *c)
{
	StringInfoData buf;
	const char *p = c->names;

	initStringInfo(&buf);
	appendStringInfoString(&buf, consent_tier_names[c->tier]);
	for (int i = 0; i < c->ngrant + c->ndeny; i++, p += strlen(p) + 1)
		appendStringInfo(&buf, "%c%s", i < c->ngrant ? '+' : '-', p);
	return buf.data;
}

PZ_FUNCTION(consent_out)
{
	PG_RETURN_CSTRING(consent_to_cstring(PG_GETARG_CONSENT_P(0)));
}

/*
 * The binary form is the canonical text and a NUL, so it is as portable as
 * the text.  Read here rather than with pq_getmsgstring(), whose error for
 * a missing NUL is a protocol violation (08P01), not a data error.
 */
PZ_FUNCTION(consent_recv)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	const char *text = buf->data + buf->cursor;
	int			left = buf->len - buf->cursor;
	int			len = strnlen(text, left);

	if (len == left)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("incorrect binary data format for type consent"),
				 errdetail("The text of a consent must end with a NUL byte.")));
	buf->cursor += len + 1;
	PG_RETURN_POINTER(consent_parse(text, true));
}

PZ_FUNCTION(consent_send)
{
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendstring(&buf, consent_to_cstring(PG_GETARG_CONSENT_P(0)));
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

static void
add_array(NameList *l, ArrayType *arr, NameList *other, bool is_deny)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("category lists must be one-dimensional")));
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	for (int i = 0; i < n; i++)
	{
		char	   *name;

		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("category lists must not contain nulls")));
		name = TextDatumGetCString(elems[i]);
		check_category_name(name);
		if (is_deny)
		{
			list_remove(other, name);
			list_add(l, name);
		}
		else if (name_index(other, name) < 0)
			list_add(l, name);
	}
}

/*
 * A consent made from category names may name registered categories only.
 * personalize.check_categories() names the first that is not, with the
 * message and SQLSTATE of every other path that takes category names.  The
 * type's text input does not ask: a value is a value (dumps restore in any
 * order), and recording one checks it again.
 */
static void
require_registered(const NameList *a, const NameList *b)
{
	int			total = a->n + (b ? b->n : 0);
	Datum	   *elems;
	int			n = 0;
	Oid			argtypes[1] = {TEXTARRAYOID};
	Datum		args[1];

	if (total == 0)
		return;
	elems = palloc(sizeof(Datum) * total);
	for (int i = 0; i < a->n; i++)
		elems[n++] = CStringGetTextDatum(a->names[i]);
	for (int i = 0; b && i < b->n; i++)
		elems[n++] = CStringGetTextDatum(b->names[i]);
	args[0] = PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "personalize: SPI_connect failed");
	if (SPI_execute_with_args("SELECT personalize.check_categories($1)",
							  1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "personalize: signal category check failed");
	SPI_finish();
}

/* make_consent(tier text, grant text[], deny text[]) */
PZ_FUNCTION(consent_make)
{
	char	   *tier_name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	int			tier = consent_tier_from_name(tier_name, false);
	NameList	grant = {0},
				deny = {0};

	/* denials first, so a category in both lists ends up denied */
	add_array(&deny, PG_GETARG_ARRAYTYPE_P(2), &grant, true);
	add_array(&grant, PG_GETARG_ARRAYTYPE_P(1), &deny, false);
	require_registered(&grant, &deny);
	PG_RETURN_POINTER(consent_build(tier, &grant, &deny));
}

/* Grant (or deny) one category explicitly, lifting the opposite choice. */
static Consent *
consent_with(Consent *c, text *category, bool grant_it)
{
	char	   *name = text_to_cstring(category);
	NameList	grant,
				deny,
				one = {1, {name}};

	check_category_name(name);
	require_registered(&one, NULL);
	consent_unpack(c, &grant, &deny);
	list_remove(grant_it ? &deny : &grant, name);
	list_add(grant_it ? &grant : &deny, name);
	return consent_build(c->tier, &grant, &deny);
}

/* consent + category */
PZ_FUNCTION(consent_grant)
{
	PG_RETURN_POINTER(consent_with(PG_GETARG_CONSENT_P(0), PG_GETARG_TEXT_PP(1), true));
}

/* consent - category */
PZ_FUNCTION(consent_revoke)
{
	PG_RETURN_POINTER(consent_with(PG_GETARG_CONSENT_P(0), PG_GETARG_TEXT_PP(1), false));
}

/* consent_allows(consent, category, category_tier int) */
PZ_FUNCTION(consent_allows_tier)
{
	Consent    *c = PG_GETARG_CONSENT_P(0);
	text	   *cat = PG_GETARG_TEXT_PP(1);
	int32		tier = PG_GETARG_INT32(2);

	if (tier < 1 || tier > 3)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("signal category tier must be 1, 2 or 3, not %d", tier)));
	PG_RETURN_BOOL(consent_allows(c, VARDATA_ANY(cat), VARSIZE_ANY_EXHDR(cat), tier));
}

PZ_FUNCTION(consent_tier_name)
{
	PG_RETURN_TEXT_P(cstring_to_text(consent_tier_names[PG_GETARG_CONSENT_P(0)->tier]));
}

static ArrayType *
names_array(const NameList *l)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(l->n, 1));

	for (int i = 0; i < l->n; i++)
		d[i] = CStringGetTextDatum(l->names[i]);
	return construct_array(d, l->n, TEXTOID, -1, false, TYPALIGN_INT);
}

PZ_FUNCTION(consent_granted)
{
	NameList	grant,
				deny;

	consent_unpack(PG_GETARG_CONSENT_P(0), &grant, &deny);
	PG_RETURN_ARRAYTYPE_P(names_array(&grant));
}

PZ_FUNCTION(consent_denied)
{
	NameList	grant,
				deny;

	consent_unpack(PG_GETARG_CONSENT_P(0), &grant, &deny);
	PG_RETURN_ARRAYTYPE_P(names_array(&deny));
}

PZ_FUNCTION(consent_eq)
{
	Consent    *a = PG_GETARG_CONSENT_P(0);
	Consent    *b = PG_GETARG_CONSENT_P(1);

	PG_RETURN_BOOL(VARSIZE(a) == VARSIZE(b) &&
				   memcmp(VARDATA(a), VARDATA(b), VARSIZE(a) - VARHDRSZ) == 0);
}
