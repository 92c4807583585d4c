-- Generated from sql/install/*.sql; edit those files instead.
\echo Use "CREATE EXTENSION personalize" to load this file. \quit

-- ---- sql/install/000_schema.sql
-- Everything lives in schema personalize; what each object lets a role do is
-- governed by its own grants and, for personal data, by row-level security.
GRANT USAGE ON SCHEMA @extschema@ TO PUBLIC;

-- ---- sql/install/010_embedding.sql
-- embedding: float4 vectors, data-compatible with pgvector's vector.

CREATE FUNCTION simd_level() RETURNS text
	AS 'MODULE_PATHNAME', 'pz_simd_level' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION simd_level() IS 'distance kernels chosen for this CPU';

CREATE TYPE embedding;

CREATE FUNCTION embedding_in(cstring, oid, integer) RETURNS embedding
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION embedding_out(embedding) RETURNS cstring
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION embedding_typmod_in(cstring[]) RETURNS integer
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION embedding_recv(internal, oid, integer) RETURNS embedding
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION embedding_send(embedding) RETURNS bytea
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE embedding (
	INPUT     = embedding_in,
	OUTPUT    = embedding_out,
	TYPMOD_IN = embedding_typmod_in,
	RECEIVE   = embedding_recv,
	SEND      = embedding_send,
	STORAGE   = external
);
COMMENT ON TYPE embedding IS 'single-precision vector, up to 16000 dimensions (pgvector-compatible)';

CREATE FUNCTION embedding_from_binary(bytea) RETURNS embedding
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION embedding_from_binary(bytea) IS 'decode the binary form (embedding_send, or pgvector''s vector_send: int16 dims, int16 0, big-endian float4s); every byte must be used';

-- distances and helpers

CREATE FUNCTION l2_distance(embedding, embedding) RETURNS float8
	AS 'MODULE_PATHNAME', 'embedding_l2_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION l2_distance(embedding, embedding) IS 'Euclidean distance';
CREATE FUNCTION l2_squared_distance(embedding, embedding) RETURNS float8
	AS 'MODULE_PATHNAME', 'embedding_l2_squared_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION l2_squared_distance(embedding, embedding) IS 'squared Euclidean distance (same order as l2_distance, no square root)';
CREATE FUNCTION inner_product(embedding, embedding) RETURNS float8
	AS 'MODULE_PATHNAME', 'embedding_inner_product' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION inner_product(embedding, embedding) IS 'inner product';
CREATE FUNCTION negative_inner_product(embedding, embedding) RETURNS float8
	AS 'MODULE_PATHNAME', 'embedding_negative_inner_product' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION negative_inner_product(embedding, embedding) IS 'negative inner product (the <#> operator)';
CREATE FUNCTION cosine_distance(embedding, embedding) RETURNS float8
	AS 'MODULE_PATHNAME', 'embedding_cosine_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION cosine_distance(embedding, embedding) IS 'cosine distance, 1 - cos(a, b)';
CREATE FUNCTION l1_distance(embedding, embedding) RETURNS float8
	AS 'MODULE_PATHNAME', 'embedding_l1_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION l1_distance(embedding, embedding) IS 'taxicab distance';
CREATE FUNCTION dims(embedding) RETURNS integer
	AS 'MODULE_PATHNAME', 'embedding_dims' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION dims(embedding) IS 'number of dimensions';
CREATE FUNCTION embedding_dims(embedding) RETURNS integer
	AS 'MODULE_PATHNAME', 'embedding_dims' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION embedding_dims(embedding) IS 'number of dimensions (pgvector''s vector_dims)';
CREATE FUNCTION norm(embedding) RETURNS float8
	AS 'MODULE_PATHNAME', 'embedding_norm' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION norm(embedding) IS 'Euclidean norm';
CREATE FUNCTION embedding_norm(embedding) RETURNS float8
	AS 'MODULE_PATHNAME', 'embedding_norm' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION embedding_norm(embedding) IS 'Euclidean norm (pgvector''s vector_norm)';
CREATE FUNCTION l2_normalize(embedding) RETURNS embedding
	AS 'MODULE_PATHNAME', 'embedding_l2_normalize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION l2_normalize(embedding) IS 'scale to unit Euclidean norm (a zero vector stays zero)';
CREATE FUNCTION subvector(embedding, integer, integer) RETURNS embedding
	AS 'MODULE_PATHNAME', 'embedding_subvector' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION subvector(embedding, integer, integer) IS 'elements start .. start+count-1 (1-based, like substring)';

-- arithmetic and comparison (implementations of operators)

CREATE FUNCTION embedding_add(embedding, embedding) RETURNS embedding
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION embedding_sub(embedding, embedding) RETURNS embedding
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION embedding_mul(embedding, embedding) RETURNS embedding
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION embedding_concat(embedding, embedding) RETURNS embedding
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION embedding_lt(embedding, embedding) RETURNS bool
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION embedding_le(embedding, embedding) RETURNS bool
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION embedding_eq(embedding, embedding) RETURNS bool
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION embedding_ne(embedding, embedding) RETURNS bool
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION embedding_ge(embedding, embedding) RETURNS bool
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION embedding_gt(embedding, embedding) RETURNS bool
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION embedding_cmp(embedding, embedding) RETURNS integer
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- aggregates

CREATE FUNCTION embedding_accum(double precision[], embedding) RETURNS double precision[]
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION embedding_combine(double precision[], double precision[]) RETURNS double precision[]
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION embedding_avg(double precision[]) RETURNS embedding
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE AGGREGATE avg(embedding) (
	SFUNC = embedding_accum,
	STYPE = double precision[],
	FINALFUNC = embedding_avg,
	COMBINEFUNC = embedding_combine,
	INITCOND = '{0}',
	PARALLEL = SAFE
);
CREATE AGGREGATE sum(embedding) (
	SFUNC = embedding_add,
	STYPE = embedding,
	COMBINEFUNC = embedding_add,
	PARALLEL = SAFE
);

-- casts

CREATE FUNCTION embedding(embedding, integer, boolean) RETURNS embedding
	AS 'MODULE_PATHNAME', 'embedding_coerce' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION array_to_embedding(integer[], integer, boolean) RETURNS embedding
	AS 'MODULE_PATHNAME', 'embedding_from_array' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION array_to_embedding(real[], integer, boolean) RETURNS embedding
	AS 'MODULE_PATHNAME', 'embedding_from_array' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION array_to_embedding(double precision[], integer, boolean) RETURNS embedding
	AS 'MODULE_PATHNAME', 'embedding_from_array' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION array_to_embedding(numeric[], integer, boolean) RETURNS embedding
	AS 'MODULE_PATHNAME', 'embedding_from_array' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION embedding_to_float4(embedding, integer, boolean) RETURNS real[]
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION embedding_to_float8(embedding, integer, boolean) RETURNS double precision[]
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION embedding_to_int4(embedding, integer, boolean) RETURNS integer[]
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION embedding_to_numeric(embedding, integer, boolean) RETURNS numeric[]
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE CAST (embedding AS embedding)
	WITH FUNCTION embedding(embedding, integer, boolean) AS IMPLICIT;
CREATE CAST (embedding AS real[])
	WITH FUNCTION embedding_to_float4(embedding, integer, boolean) AS IMPLICIT;
CREATE CAST (embedding AS double precision[])
	WITH FUNCTION embedding_to_float8(embedding, integer, boolean) AS ASSIGNMENT;
CREATE CAST (embedding AS integer[])
	WITH FUNCTION embedding_to_int4(embedding, integer, boolean);
CREATE CAST (embedding AS numeric[])
	WITH FUNCTION embedding_to_numeric(embedding, integer, boolean) AS ASSIGNMENT;
CREATE CAST (integer[] AS embedding)
	WITH FUNCTION array_to_embedding(integer[], integer, boolean) AS ASSIGNMENT;
CREATE CAST (real[] AS embedding)
	WITH FUNCTION array_to_embedding(real[], integer, boolean) AS ASSIGNMENT;
CREATE CAST (double precision[] AS embedding)
	WITH FUNCTION array_to_embedding(double precision[], integer, boolean) AS ASSIGNMENT;
CREATE CAST (numeric[] AS embedding)
	WITH FUNCTION array_to_embedding(numeric[], integer, boolean) AS ASSIGNMENT;

-- operators

CREATE OPERATOR <-> (LEFTARG = embedding, RIGHTARG = embedding,
	PROCEDURE = l2_distance, COMMUTATOR = '<->');
CREATE OPERATOR <#> (LEFTARG = embedding, RIGHTARG = embedding,
	PROCEDURE = negative_inner_product, COMMUTATOR = '<#>');
CREATE OPERATOR <=> (LEFTARG = embedding, RIGHTARG = embedding,
	PROCEDURE = cosine_distance, COMMUTATOR = '<=>');
CREATE OPERATOR <+> (LEFTARG = embedding, RIGHTARG = embedding,
	PROCEDURE = l1_distance, COMMUTATOR = '<+>');
CREATE OPERATOR + (LEFTARG = embedding, RIGHTARG = embedding,
	PROCEDURE = embedding_add, COMMUTATOR = +);
CREATE OPERATOR - (LEFTARG = embedding, RIGHTARG = embedding,
	PROCEDURE = embedding_sub);
CREATE OPERATOR * (LEFTARG = embedding, RIGHTARG = embedding,
	PROCEDURE = embedding_mul, COMMUTATOR = *);
CREATE OPERATOR || (LEFTARG = embedding, RIGHTARG = embedding,
	PROCEDURE = embedding_concat);
CREATE OPERATOR < (LEFTARG = embedding, RIGHTARG = embedding, PROCEDURE = embedding_lt,
	COMMUTATOR = >, NEGATOR = >=, RESTRICT = scalarltsel, JOIN = scalarltjoinsel);
CREATE OPERATOR <= (LEFTARG = embedding, RIGHTARG = embedding, PROCEDURE = embedding_le,
	COMMUTATOR = >=, NEGATOR = >, RESTRICT = scalarlesel, JOIN = scalarlejoinsel);
CREATE OPERATOR = (LEFTARG = embedding, RIGHTARG = embedding, PROCEDURE = embedding_eq,
	COMMUTATOR = =, NEGATOR = <>, RESTRICT = eqsel, JOIN = eqjoinsel);
CREATE OPERATOR <> (LEFTARG = embedding, RIGHTARG = embedding, PROCEDURE = embedding_ne,
	COMMUTATOR = <>, NEGATOR = =, RESTRICT = eqsel, JOIN = eqjoinsel);
CREATE OPERATOR >= (LEFTARG = embedding, RIGHTARG = embedding, PROCEDURE = embedding_ge,
	COMMUTATOR = <=, NEGATOR = <, RESTRICT = scalargesel, JOIN = scalargejoinsel);
CREATE OPERATOR > (LEFTARG = embedding, RIGHTARG = embedding, PROCEDURE = embedding_gt,
	COMMUTATOR = <, NEGATOR = <=, RESTRICT = scalargtsel, JOIN = scalargtjoinsel);

CREATE OPERATOR CLASS embedding_ops
	DEFAULT FOR TYPE embedding USING btree AS
	OPERATOR 1 <,
	OPERATOR 2 <=,
	OPERATOR 3 =,
	OPERATOR 4 >=,
	OPERATOR 5 >,
	FUNCTION 1 embedding_cmp(embedding, embedding);

-- ---- sql/install/020_embedding8.sql
-- embedding8: int8 scalar-quantized embeddings (one scale per vector).

CREATE TYPE embedding8;

CREATE FUNCTION embedding8_in(cstring, oid, integer) RETURNS embedding8
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION embedding8_out(embedding8) RETURNS cstring
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION embedding8_typmod_in(cstring[]) RETURNS integer
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION embedding8_recv(internal, oid, integer) RETURNS embedding8
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION embedding8_send(embedding8) RETURNS bytea
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE embedding8 (
	INPUT     = embedding8_in,
	OUTPUT    = embedding8_out,
	TYPMOD_IN = embedding8_typmod_in,
	RECEIVE   = embedding8_recv,
	SEND      = embedding8_send,
	STORAGE   = external
);
COMMENT ON TYPE embedding8 IS 'int8 scalar-quantized vector: about 4x smaller than embedding, per-element error at most max|x|/254';

CREATE FUNCTION embedding8_from_binary(bytea) RETURNS embedding8
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION embedding8_from_binary(bytea) IS 'decode the binary form of embedding8_send (int16 dims, int16 0, float4 scale, one int8 per element); every byte must be used';

CREATE FUNCTION l2_distance(embedding8, embedding8) RETURNS float8
	AS 'MODULE_PATHNAME', 'embedding8_l2_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION inner_product(embedding8, embedding8) RETURNS float8
	AS 'MODULE_PATHNAME', 'embedding8_inner_product' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION negative_inner_product(embedding8, embedding8) RETURNS float8
	AS 'MODULE_PATHNAME', 'embedding8_negative_inner_product' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION cosine_distance(embedding8, embedding8) RETURNS float8
	AS 'MODULE_PATHNAME', 'embedding8_cosine_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION l1_distance(embedding8, embedding8) RETURNS float8
	AS 'MODULE_PATHNAME', 'embedding8_l1_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION dims(embedding8) RETURNS integer
	AS 'MODULE_PATHNAME', 'embedding8_dims' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION norm(embedding8) RETURNS float8
	AS 'MODULE_PATHNAME', 'embedding8_norm' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION quantization_error(embedding8) RETURNS float8
	AS 'MODULE_PATHNAME', 'embedding8_max_error' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION quantization_error(embedding8) IS 'largest absolute error of any element of this value (scale / 2)';

CREATE FUNCTION embedding8(embedding8, integer, boolean) RETURNS embedding8
	AS 'MODULE_PATHNAME', 'embedding8_coerce' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION embedding8(embedding, integer, boolean) RETURNS embedding8
	AS 'MODULE_PATHNAME', 'embedding_to_embedding8' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION embedding(embedding8, integer, boolean) RETURNS embedding
	AS 'MODULE_PATHNAME', 'embedding8_to_embedding' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE CAST (embedding8 AS embedding8)
	WITH FUNCTION embedding8(embedding8, integer, boolean) AS IMPLICIT;
CREATE CAST (embedding AS embedding8)
	WITH FUNCTION embedding8(embedding, integer, boolean) AS ASSIGNMENT;
CREATE CAST (embedding8 AS embedding)
	WITH FUNCTION embedding(embedding8, integer, boolean) AS IMPLICIT;

CREATE OPERATOR <-> (LEFTARG = embedding8, RIGHTARG = embedding8,
	PROCEDURE = l2_distance, COMMUTATOR = '<->');
CREATE OPERATOR <#> (LEFTARG = embedding8, RIGHTARG = embedding8,
	PROCEDURE = negative_inner_product, COMMUTATOR = '<#>');
CREATE OPERATOR <=> (LEFTARG = embedding8, RIGHTARG = embedding8,
	PROCEDURE = cosine_distance, COMMUTATOR = '<=>');
CREATE OPERATOR <+> (LEFTARG = embedding8, RIGHTARG = embedding8,
	PROCEDURE = l1_distance, COMMUTATOR = '<+>');

-- ---- sql/install/030_consent.sql
-- Consent tiers and the consent type.

CREATE TYPE consent_tier AS ENUM ('none', 'functional', 'personalization', 'enhanced');
COMMENT ON TYPE consent_tier IS 'ordered consent tiers: none < functional < personalization < enhanced';

CREATE TYPE consent;
CREATE FUNCTION consent_in(cstring) RETURNS consent
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION consent_out(consent) RETURNS cstring
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION consent_recv(internal) RETURNS consent
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION consent_send(consent) RETURNS bytea
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE TYPE consent (
	INPUT = consent_in, OUTPUT = consent_out,
	RECEIVE = consent_recv, SEND = consent_send,
	INTERNALLENGTH = VARIABLE, STORAGE = main
);
COMMENT ON TYPE consent IS 'a consent for one purpose: tier plus explicitly granted (+) and denied (-) signal categories, e.g. personalization+location-purchase_history';

CREATE FUNCTION consent_make(text, text[], text[]) RETURNS consent
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION make_consent(tier consent_tier, "grant" text[] DEFAULT '{}', deny text[] DEFAULT '{}')
	RETURNS consent LANGUAGE sql IMMUTABLE PARALLEL SAFE
	AS $$ SELECT @extschema@.consent_make(tier::text, coalesce("grant", '{}'), coalesce(deny, '{}')) $$;
COMMENT ON FUNCTION make_consent(consent_tier, text[], text[]) IS 'build a consent; a category both granted and denied is denied';

CREATE FUNCTION consent_tier_name(consent) RETURNS text
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION tier(c consent) RETURNS consent_tier LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	AS $$ SELECT @extschema@.consent_tier_name(c)::@extschema@.consent_tier $$;
COMMENT ON FUNCTION tier(consent) IS 'the tier of a consent';
CREATE FUNCTION granted(consent) RETURNS text[]
	AS 'MODULE_PATHNAME', 'consent_granted' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION granted(consent) IS 'categories granted explicitly';
CREATE FUNCTION denied(consent) RETURNS text[]
	AS 'MODULE_PATHNAME', 'consent_denied' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION denied(consent) IS 'categories denied explicitly';

CREATE FUNCTION consent_grant(consent, text) RETURNS consent
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION consent_revoke(consent, text) RETURNS consent
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION consent_allows_tier(consent, text, integer) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION consent_allows_tier(consent, text, integer) IS 'tier rules for a category of the given tier (1, 2 or 3)';
CREATE FUNCTION consent_eq(consent, consent) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OPERATOR + (LEFTARG = consent, RIGHTARG = text, PROCEDURE = consent_grant);
CREATE OPERATOR - (LEFTARG = consent, RIGHTARG = text, PROCEDURE = consent_revoke);
CREATE OPERATOR = (LEFTARG = consent, RIGHTARG = consent, PROCEDURE = consent_eq,
	COMMUTATOR = =, RESTRICT = eqsel, JOIN = eqjoinsel);

-- ---- sql/install/040_registry.sql
-- The vocabulary: signal categories, purposes, and which roles may act under
-- which purpose.  Rows marked builtin come from this script and are not
-- dumped; everything an administrator adds is.

-- Registry tables change only through the extension's functions (SECURITY
-- DEFINER, owned by the installing superuser) or by their owner: row-level
-- security is forced and no policy allows writes, so neither table grants
-- nor pg_write_all_data (which does not bypass row-level security) can.
CREATE FUNCTION seal_registry_table(tbl regclass, readable boolean) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY', tbl);
	IF readable THEN
		EXECUTE format('CREATE POLICY readable ON %s FOR SELECT USING (true)', tbl);
	END IF;
END $$;
REVOKE ALL ON FUNCTION seal_registry_table(regclass, boolean) FROM PUBLIC;
COMMENT ON FUNCTION seal_registry_table(regclass, boolean) IS 'install-time helper: only the owner and the extension''s functions write a registry table';

CREATE TABLE signal_categories (
	name          text PRIMARY KEY
	              CHECK (name ~ '^[a-z][a-z0-9_]{0,62}$'),
	tier          smallint NOT NULL CHECK (tier BETWEEN 1 AND 3),
	justification text CHECK (justification IS NULL OR btrim(justification) <> ''),
	retention     interval CHECK (retention IS NULL OR retention > interval '0'),
	builtin       boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE signal_categories IS 'kinds of personal signal; tier 1 functional, 2 personalization, 3 enhanced (per-category grant); a category without justification is never used for training';

INSERT INTO signal_categories (name, tier, justification, retention, builtin) VALUES
	('session', 1, 'Signals of the current visit, needed to deliver the service (cart, recently viewed this session).', '1 day', true),
	('browsing_history', 2, 'Items viewed across visits, used to recommend related items.', '180 days', true),
	('purchase_history', 2, 'Items bought, used to recommend complements and avoid repeats.', '2 years', true),
	('preferences', 2, 'Preferences the person stated (favourite categories, sizes).', '2 years', true),
	('location', 3, 'Approximate location, used for local availability when granted.', '30 days', true),
	('demographic', 3, 'Age band or similar, only when the person grants it.', '1 year', true),
	('third_party', 3, 'Data from partners, only when the person grants it.', '90 days', true);

CREATE FUNCTION check_category_limit() RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF (SELECT count(*) FROM @extschema@.signal_categories) > 64 THEN
		RAISE EXCEPTION 'at most 64 signal categories can be registered'
			USING ERRCODE = 'program_limit_exceeded';
	END IF;
	RETURN NULL;
END $$;
REVOKE ALL ON FUNCTION check_category_limit() FROM PUBLIC;
COMMENT ON FUNCTION check_category_limit() IS 'trigger: at most 64 signal categories (the consent check keeps one bit per category)';
CREATE TRIGGER category_limit AFTER INSERT ON signal_categories
	FOR EACH STATEMENT EXECUTE FUNCTION check_category_limit();

CREATE TABLE purposes (
	name                  text PRIMARY KEY
	                      CHECK (name ~ '^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)*$' AND length(name) <= 64),
	description           text NOT NULL,
	max_tier              consent_tier NOT NULL,
	personal_data_allowed boolean NOT NULL,
	builtin               boolean NOT NULL DEFAULT false,
	decides_terms         boolean NOT NULL DEFAULT false,
	inherits              boolean NOT NULL DEFAULT false,
	-- Deciding what a person pays, or on what terms, never uses personal data
	-- (personalized pricing is refused), whatever the purpose is called ...
	CONSTRAINT terms_never_personal CHECK (NOT (decides_terms AND personal_data_allowed)),
	-- ... and a name that says it sets prices or terms must declare it.
	CONSTRAINT price_names_decide_terms
		CHECK (decides_terms OR name !~ '(^|[._])(price|prices|pricing|tariff|tariffs|premium|premiums|terms|underwriting)([._]|$)'),
	CONSTRAINT top_level_inherits_nothing CHECK (NOT inherits OR name ~ '\.')
);
COMMENT ON TABLE purposes IS 'why personal data may be read; dotted names form a hierarchy in which a sub-purpose is never wider than its parent, and is covered by its parent''s grants and consents only when it inherits';
COMMENT ON COLUMN purposes.name IS 'dotted lower-case name; "marketing.email" is a sub-purpose of "marketing"';
COMMENT ON COLUMN purposes.description IS 'what the purpose is for, in words a person understands';
COMMENT ON COLUMN purposes.max_tier IS 'highest consent tier whose categories the purpose may read (the lowest along its ancestors applies)';
COMMENT ON COLUMN purposes.personal_data_allowed IS 'false: reading personal data under the purpose is an error (so is reading under a sub-purpose)';
COMMENT ON COLUMN purposes.builtin IS 'installed by the extension (not dumped)';
COMMENT ON COLUMN purposes.decides_terms IS 'the purpose decides prices or terms offered to a person; such a purpose, and every sub-purpose of it, never reads personal data';
COMMENT ON COLUMN purposes.inherits IS 'a sub-purpose covered by its parent''s purpose grants, consents and active model; false: it needs its own';

INSERT INTO purposes (name, description, max_tier, personal_data_allowed, builtin, decides_terms) VALUES
	('service', 'Delivering the service the person asked for (session signals only).', 'functional', true, true, false),
	('recommendation', 'Recommending items to the person.', 'enhanced', true, true, false),
	('analytics', 'Aggregate analysis of how the service is used.', 'personalization', true, true, false),
	('marketing', 'Marketing messages to the person.', 'enhanced', true, true, false),
	('pricing', 'Setting prices. Personal data is never used: personalized pricing is refused.', 'none', false, true, true);

-- The purposes whose grants and consents cover a purpose: itself, then each
-- ancestor as long as the purpose below it inherits.  Most specific first.
CREATE FUNCTION purpose_chain(purpose text) RETURNS text[]
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
	WITH RECURSIVE chain (name, inherits, depth) AS (
		SELECT p.name, p.inherits, 1 FROM @extschema@.purposes p WHERE p.name = purpose_chain.purpose
		UNION ALL
		SELECT p.name, p.inherits, c.depth + 1
		  FROM chain c JOIN @extschema@.purposes p ON p.name = substring(c.name FROM '^(.*)\.[^.]+$')
		 WHERE c.inherits)
	SELECT coalesce(array_agg(name ORDER BY depth), '{}') FROM chain
$$;
COMMENT ON FUNCTION purpose_chain(text) IS 'the purpose and the ancestors it inherits grants and consents from, most specific first (empty for an unknown purpose)';

CREATE FUNCTION create_purpose(name text, description text, max_tier consent_tier,
                               personal_data_allowed boolean DEFAULT NULL,
                               decides_terms boolean DEFAULT NULL, inherit boolean DEFAULT NULL)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	parent @extschema@.purposes;
	parent_name text := substring(name FROM '^(.*)\.[^.]+$');
	personal boolean;
	terms boolean := decides_terms;
BEGIN
	IF name IS NULL OR description IS NULL OR max_tier IS NULL THEN
		RAISE EXCEPTION 'name, description and max_tier must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF parent_name IS NOT NULL THEN
		SELECT * INTO parent FROM @extschema@.purposes p WHERE p.name = parent_name;
		IF NOT FOUND THEN
			RAISE EXCEPTION 'parent purpose "%" of "%" does not exist', parent_name, name
				USING ERRCODE = 'invalid_parameter_value', HINT = 'Create the parent purpose first.';
		END IF;
		IF inherit IS NULL THEN
			RAISE EXCEPTION 'say whether sub-purpose "%" inherits the grants and consents of "%"', name, parent_name
				USING ERRCODE = 'invalid_parameter_value',
				      HINT = 'inherit => true: roles granted the parent may act under it and consents to the parent cover it; inherit => false: it needs grants and consents of its own.';
		END IF;
		-- a sub-purpose of a purpose that decides prices or terms does too
		terms := coalesce(terms, parent.decides_terms);
		IF parent.decides_terms AND NOT terms THEN
			RAISE EXCEPTION 'purpose "%" decides prices or terms, and so does its sub-purpose "%"', parent_name, name
				USING ERRCODE = 'insufficient_privilege', HINT = 'Create it with decides_terms => true.';
		END IF;
	ELSIF inherit THEN
		RAISE EXCEPTION 'purpose "%" has no parent to inherit from', name
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF terms IS NULL AND personal_data_allowed IS DISTINCT FROM false THEN
		RAISE EXCEPTION 'say whether purpose "%" decides prices or terms', name
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'decides_terms => true for a purpose that sets what a person pays or on what terms (it never reads personal data: personalized pricing is refused); decides_terms => false otherwise.';
	END IF;
	terms := coalesce(terms, false);
	IF terms AND personal_data_allowed THEN
		RAISE EXCEPTION 'purpose "%" decides prices or terms, so it may not use personal data: personalized pricing is refused', name
			USING ERRCODE = 'insufficient_privilege';
	END IF;
	IF NOT terms AND name ~ '(^|[._])(price|prices|pricing|tariff|tariffs|premium|premiums|terms|underwriting)([._]|$)' THEN
		RAISE EXCEPTION 'purpose name "%" says it sets prices or terms, so it must be created with decides_terms => true (and never reads personal data)', name
			USING ERRCODE = 'insufficient_privilege',
			      HINT = 'Personalized pricing is refused. If the purpose does not decide prices or terms, name it for what it does.';
	END IF;
	personal := coalesce(personal_data_allowed, NOT terms);
	IF parent_name IS NOT NULL AND (parent.max_tier < max_tier OR (NOT parent.personal_data_allowed AND personal)) THEN
		RAISE EXCEPTION 'purpose "%" cannot allow more than its parent "%"', name, parent_name
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'A sub-purpose may narrow its parent''s tier cap and personal-data use, never widen them.';
	END IF;
	INSERT INTO @extschema@.purposes (name, description, max_tier, personal_data_allowed, builtin, decides_terms, inherits)
	VALUES (name, description, max_tier, personal, false, terms, coalesce(inherit, false));
END $$;
COMMENT ON FUNCTION create_purpose(text, text, consent_tier, boolean, boolean, boolean) IS
	'register a purpose; say whether it decides prices or terms (then it never reads personal data) and, for a sub-purpose, whether it inherits its parent''s grants and consents';

CREATE TABLE purpose_grants (
	role       regrole NOT NULL,
	purpose    text NOT NULL REFERENCES purposes (name) ON DELETE CASCADE,
	granted_by name NOT NULL DEFAULT current_user,
	granted_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (role, purpose)
);
COMMENT ON TABLE purpose_grants IS 'roles allowed to declare a purpose (and the sub-purposes that inherit from it)';
COMMENT ON COLUMN purpose_grants.role IS 'the grantee; its members with INHERIT hold the purpose too';
COMMENT ON COLUMN purpose_grants.purpose IS 'the purpose granted';
COMMENT ON COLUMN purpose_grants.granted_by IS 'the role that called grant_purpose()';
COMMENT ON COLUMN purpose_grants.granted_at IS 'when';

-- The role on whose behalf a change is made: SET ROLE counts, and so does
-- the caller of a SECURITY DEFINER function.
CREATE FUNCTION acting_role() RETURNS name LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp AS $$
	SELECT CASE WHEN current_setting('role') = 'none' THEN session_user
	            ELSE current_setting('role')::name END
$$;
COMMENT ON FUNCTION acting_role() IS 'the role a session acts as (SET ROLE counts), also inside SECURITY DEFINER functions';

-- Holding a purpose is what makes a role a reader of personal data, so it
-- also gives SELECT on personalize.interactions (which PUBLIC does not have).
CREATE FUNCTION grant_purpose(role regrole, purpose text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF role IS NULL THEN
		RAISE EXCEPTION 'role must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM @extschema@.check_purpose_exists(purpose);
	INSERT INTO @extschema@.purpose_grants (role, purpose, granted_by)
	VALUES (role, purpose, @extschema@.acting_role())
	ON CONFLICT DO NOTHING;
	EXECUTE format('GRANT SELECT ON @extschema@.interactions TO %s', role);
END $$;
COMMENT ON FUNCTION grant_purpose(regrole, text) IS 'allow a role (and its members) to declare a purpose; gives it SELECT on personalize.interactions';

CREATE FUNCTION revoke_purpose(role regrole, purpose text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	DELETE FROM @extschema@.purpose_grants g WHERE g.role = revoke_purpose.role AND g.purpose = revoke_purpose.purpose;
	IF NOT EXISTS (SELECT 1 FROM @extschema@.purpose_grants g WHERE g.role = revoke_purpose.role) THEN
		EXECUTE format('REVOKE SELECT ON @extschema@.interactions FROM %s', role);
	END IF;
END $$;
COMMENT ON FUNCTION revoke_purpose(regrole, text) IS 'withdraw a purpose grant (and SELECT on personalize.interactions with the role''s last one); takes effect at the role''s next statement';

CREATE FUNCTION declare_purpose(purpose text) RETURNS text LANGUAGE sql
AS $$ SELECT pg_catalog.set_config('personalize.purpose', purpose, false) $$;
COMMENT ON FUNCTION declare_purpose(text) IS 'function form of SET personalize.purpose (same checks)';
CREATE FUNCTION current_purpose() RETURNS text LANGUAGE sql STABLE
AS $$ SELECT nullif(pg_catalog.current_setting('personalize.purpose', true), '') $$;
COMMENT ON FUNCTION current_purpose() IS 'the purpose this session declared, or NULL';

REVOKE ALL ON FUNCTION create_purpose(text, text, consent_tier, boolean, boolean, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION grant_purpose(regrole, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION revoke_purpose(regrole, text) FROM PUBLIC;
GRANT SELECT ON signal_categories, purposes TO PUBLIC;
SELECT seal_registry_table('signal_categories', true);
SELECT seal_registry_table('purposes', true);
SELECT seal_registry_table('purpose_grants', false);

SELECT pg_catalog.pg_extension_config_dump('signal_categories', 'WHERE NOT builtin');
SELECT pg_catalog.pg_extension_config_dump('purposes', 'WHERE NOT builtin');
-- Grants to roles dropped since are not dumped: their OIDs could name
-- another role where the dump is restored.
SELECT pg_catalog.pg_extension_config_dump('purpose_grants',
	'WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.oid = role)');

-- ---- sql/install/050_ledger.sql
-- The consent ledger (append-only) and the current consent of each subject
-- for each purpose.  Neither is readable by application roles: they go
-- through set_consent(), withdraw_consent() and consent_of().

CREATE TABLE consent_ledger (
	entry_id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	subject_id     bigint NOT NULL,
	purpose        text NOT NULL REFERENCES purposes (name),
	action         text NOT NULL CHECK (action IN ('set', 'withdraw')),
	consent        consent NOT NULL,
	source         text,
	notice_version text,
	recorded_by    name NOT NULL,
	recorded_at    timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX ON consent_ledger (subject_id, recorded_at);
COMMENT ON TABLE consent_ledger IS 'every consent change, append-only: who, what, when, from where, under which notice';

CREATE TABLE consents (
	subject_id bigint NOT NULL,
	purpose    text NOT NULL REFERENCES purposes (name),
	consent    consent NOT NULL,
	updated_at timestamptz NOT NULL,
	PRIMARY KEY (subject_id, purpose)
);
CREATE INDEX ON consents (purpose);
COMMENT ON TABLE consents IS 'current consent per subject and purpose (the latest ledger entry)';

CREATE FUNCTION refuse_ledger_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'the consent ledger is append-only'
		USING ERRCODE = 'insufficient_privilege',
		      HINT = 'Record a change with personalize.set_consent() or personalize.withdraw_consent().';
END $$;
REVOKE ALL ON FUNCTION refuse_ledger_change() FROM PUBLIC;
COMMENT ON FUNCTION refuse_ledger_change() IS 'trigger: the consent ledger is append-only';
CREATE TRIGGER append_only BEFORE UPDATE OR DELETE ON consent_ledger
	FOR EACH ROW EXECUTE FUNCTION refuse_ledger_change();
CREATE TRIGGER append_only_truncate BEFORE TRUNCATE ON consent_ledger
	FOR EACH STATEMENT EXECUTE FUNCTION refuse_ledger_change();
-- also under session_replication_role = replica
ALTER TABLE consent_ledger ENABLE ALWAYS TRIGGER append_only;
ALTER TABLE consent_ledger ENABLE ALWAYS TRIGGER append_only_truncate;

CREATE FUNCTION check_categories(names text[]) RETURNS void LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	unknown text;
BEGIN
	SELECT n INTO unknown FROM unnest(names) n
	 WHERE n IS NULL OR NOT EXISTS (SELECT 1 FROM @extschema@.signal_categories c WHERE c.name = n)
	 LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'unknown signal category "%"', coalesce(unknown, 'NULL')
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'Known categories are listed in personalize.signal_categories.';
	END IF;
END $$;

CREATE FUNCTION check_purpose_exists(purpose text) RETURNS void LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF purpose IS NULL OR NOT EXISTS (SELECT 1 FROM @extschema@.purposes p WHERE p.name = purpose) THEN
		RAISE EXCEPTION 'unknown purpose "%"', coalesce(purpose, 'NULL')
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'Known purposes are listed in personalize.purposes.';
	END IF;
END $$;

CREATE FUNCTION record_consent(subject bigint, purpose text, action text, c consent,
                               source text, notice_version text)
RETURNS consent LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF subject IS NULL THEN
		RAISE EXCEPTION 'subject must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM @extschema@.check_purpose_exists(purpose);
	PERFORM @extschema@.check_categories(@extschema@.granted(c) || @extschema@.denied(c));
	INSERT INTO @extschema@.consent_ledger
		(subject_id, purpose, action, consent, source, notice_version, recorded_by)
	VALUES (subject, purpose, action, c, source, notice_version, @extschema@.acting_role());
	INSERT INTO @extschema@.consents AS cur (subject_id, purpose, consent, updated_at)
	VALUES (subject, purpose, c, clock_timestamp())
	ON CONFLICT ON CONSTRAINT consents_pkey
	DO UPDATE SET consent = excluded.consent, updated_at = excluded.updated_at;
	RETURN c;
END $$;
REVOKE ALL ON FUNCTION record_consent(bigint, text, text, consent, text, text) FROM PUBLIC;

CREATE FUNCTION refuse_null_tier() RETURNS consent LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'consent tier must not be null'
		USING ERRCODE = 'null_value_not_allowed',
		      HINT = 'Use ''none'' to record that nothing is allowed, or personalize.withdraw_consent().';
END $$;

REVOKE ALL ON FUNCTION refuse_null_tier() FROM PUBLIC;
COMMENT ON FUNCTION refuse_null_tier() IS 'set_consent() helper: a NULL tier is an error';

CREATE FUNCTION set_consent(subject bigint, purpose text, tier consent_tier,
                            "grant" text[] DEFAULT '{}', deny text[] DEFAULT '{}',
                            source text DEFAULT NULL, notice_version text DEFAULT NULL)
RETURNS consent LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
	SELECT CASE WHEN tier IS NULL
	            THEN @extschema@.refuse_null_tier()
	            ELSE @extschema@.record_consent(subject, purpose, 'set',
	                     @extschema@.make_consent(tier, "grant", deny), source, notice_version) END
$$;
COMMENT ON FUNCTION set_consent(bigint, text, consent_tier, text[], text[], text, text) IS
	'record a subject''s consent for a purpose (replaces the previous one); effective from the next statement';

CREATE FUNCTION withdraw_consent(subject bigint, purpose text, source text DEFAULT NULL,
                                 notice_version text DEFAULT NULL)
RETURNS consent LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	child text;
BEGIN
	-- a withdrawal of "marketing" also withdraws "marketing.email" and below
	FOR child IN
		SELECT c.purpose FROM @extschema@.consents c
		 WHERE c.subject_id = withdraw_consent.subject
		   AND starts_with(c.purpose, withdraw_consent.purpose || '.')
		   AND @extschema@.tier(c.consent) <> 'none'
		 ORDER BY c.purpose
	LOOP
		PERFORM @extschema@.record_consent(subject, child, 'withdraw', 'none'::@extschema@.consent,
		                                   source, notice_version);
	END LOOP;
	RETURN @extschema@.record_consent(subject, purpose, 'withdraw', 'none'::@extschema@.consent,
	                                  source, notice_version);
END $$;
COMMENT ON FUNCTION withdraw_consent(bigint, text, text, text) IS
	'withdraw a subject''s consent for a purpose: nothing of theirs is visible under it from the next statement';

CREATE FUNCTION consent_of(subject bigint, purpose text) RETURNS consent
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
	SELECT c.consent FROM @extschema@.consents c
	 WHERE c.subject_id = consent_of.subject AND c.purpose = consent_of.purpose
$$;
COMMENT ON FUNCTION consent_of(bigint, text) IS 'a subject''s current consent for a purpose (NULL when none was ever recorded)';

REVOKE ALL ON FUNCTION set_consent(bigint, text, consent_tier, text[], text[], text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION withdraw_consent(bigint, text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION consent_of(bigint, text) FROM PUBLIC;

-- Subject-keyed: row-level security forced, and no policy, so only the
-- functions above (owned by the installing superuser) read or write them.
ALTER TABLE consent_ledger ENABLE ROW LEVEL SECURITY;
ALTER TABLE consent_ledger FORCE ROW LEVEL SECURITY;
ALTER TABLE consents ENABLE ROW LEVEL SECURITY;
ALTER TABLE consents FORCE ROW LEVEL SECURITY;

SELECT pg_catalog.pg_extension_config_dump('consent_ledger', '');
SELECT pg_catalog.pg_extension_config_dump('consents', '');

-- ---- sql/install/060_data.sql
-- The catalogue and the behavioural data the policies protect.

CREATE TABLE items (
	item_id    bigint PRIMARY KEY,
	category   text,
	attributes jsonb NOT NULL DEFAULT '{}',
	sponsored  boolean NOT NULL DEFAULT false,
	embedding  embedding,
	created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE items IS 'the catalogue (not personal data)';
GRANT SELECT ON items TO PUBLIC;

CREATE TABLE interactions (
	interaction_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	subject_id     bigint NOT NULL,
	item_id        bigint NOT NULL REFERENCES items (item_id) ON DELETE CASCADE,
	category       text NOT NULL REFERENCES signal_categories (name),
	kind           text NOT NULL DEFAULT 'view' CHECK (kind ~ '^[a-z][a-z0-9_]{0,30}$'),
	weight         real NOT NULL DEFAULT 1
	               CHECK (weight > '-Infinity'::real AND weight < 'Infinity'::real),
	occurred_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON interactions (subject_id, occurred_at);
CREATE INDEX ON interactions (item_id);
COMMENT ON TABLE interactions IS 'behavioural signals: visible only under a declared purpose the subject consented to for the category';

-- Reading is governed by the policy, and only roles holding a purpose may
-- try (grant_purpose() gives them SELECT); writing needs an explicit grant:
--   GRANT INSERT (subject_id, item_id, category, kind, weight, occurred_at)
--     ON personalize.interactions TO app;

CREATE FUNCTION track(subject bigint, item bigint, category text, kind text DEFAULT 'view',
                      weight real DEFAULT 1, occurred_at timestamptz DEFAULT now())
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF subject IS NULL OR item IS NULL THEN
		RAISE EXCEPTION 'subject and item must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM @extschema@.check_categories(ARRAY[category]);
	INSERT INTO @extschema@.interactions (subject_id, item_id, category, kind, weight, occurred_at)
	VALUES (subject, item, category, coalesce(kind, 'view'), coalesce(weight, 1), coalesce(occurred_at, now()));
END $$;
COMMENT ON FUNCTION track(bigint, bigint, text, text, real, timestamptz) IS 'record one behavioural signal (the caller needs INSERT on interactions)';

-- The bulk path for application roles: PostgreSQL refuses COPY FROM into a
-- table with row-level security for them, so arrays go in one statement.
CREATE FUNCTION track_many(subjects bigint[], items bigint[], categories text[],
                           kinds text[] DEFAULT NULL, weights real[] DEFAULT NULL,
                           occurred_at timestamptz[] DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	n int := coalesce(cardinality(subjects), 0);
	inserted bigint;
BEGIN
	IF coalesce(cardinality(items), 0) <> n OR coalesce(cardinality(categories), 0) <> n
	   OR (kinds IS NOT NULL AND cardinality(kinds) <> n)
	   OR (weights IS NOT NULL AND cardinality(weights) <> n)
	   OR (occurred_at IS NOT NULL AND cardinality(occurred_at) <> n) THEN
		RAISE EXCEPTION 'track_many() needs arrays of equal length'
			USING ERRCODE = 'array_subscript_error';
	END IF;
	IF array_position(subjects, NULL) IS NOT NULL OR array_position(items, NULL) IS NOT NULL THEN
		RAISE EXCEPTION 'subject and item must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM @extschema@.check_categories(ARRAY(SELECT DISTINCT c FROM unnest(categories) c));
	INSERT INTO @extschema@.interactions (subject_id, item_id, category, kind, weight, occurred_at)
	SELECT s, i, c, coalesce(k, 'view'), coalesce(w, 1), coalesce(t, now())
	  FROM unnest(subjects, items, categories,
	              coalesce(kinds, array_fill(NULL::text, ARRAY[n])),
	              coalesce(weights, array_fill(NULL::real, ARRAY[n])),
	              coalesce(occurred_at, array_fill(NULL::timestamptz, ARRAY[n]))) AS u(s, i, c, k, w, t);
	GET DIAGNOSTICS inserted = ROW_COUNT;
	RETURN inserted;
END $$;
COMMENT ON FUNCTION track_many(bigint[], bigint[], text[], text[], real[], timestamptz[]) IS
	'record many signals in one statement, all or nothing (the caller needs INSERT on interactions)';

SELECT pg_catalog.pg_extension_config_dump('items', '');
SELECT pg_catalog.pg_extension_config_dump('interactions', '');

-- ---- sql/install/070_policies.sql
-- Row-level security: personal rows are visible only under a declared purpose
-- granted to the reading role, and only when the row's subject consented to
-- that purpose (or a parent purpose) for the row's signal category.

CREATE FUNCTION row_visible(subject bigint, category text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'pz_row_visible_sql' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION row_visible(bigint, text) IS
	'true when the declared purpose is granted to the current role and the subject''s consent allows the category';

-- Statement triggers (fired in every session, also with
-- session_replication_role = replica, and for TRUNCATE) plus row triggers
-- enabled for replica sessions only: the logical replication apply worker
-- fires row triggers, never statement ones.  Either way, a change to the
-- registry reaches every session's next statement.
CREATE FUNCTION invalidate_visibility() RETURNS trigger
	AS 'MODULE_PATHNAME', 'pz_invalidate_visibility' LANGUAGE C;
REVOKE ALL ON FUNCTION invalidate_visibility() FROM PUBLIC;
COMMENT ON FUNCTION invalidate_visibility() IS 'trigger on the registry tables: every session drops its cached consent decisions at commit';

CREATE FUNCTION watch_registry_table(tbl regclass) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	EXECUTE format('CREATE TRIGGER invalidate_visibility AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON %s '
	               'FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.invalidate_visibility()', tbl);
	EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER invalidate_visibility', tbl);
	EXECUTE format('CREATE TRIGGER invalidate_visibility_apply BEFORE INSERT OR UPDATE OR DELETE ON %s '
	               'FOR EACH ROW EXECUTE FUNCTION @extschema@.invalidate_visibility()', tbl);
	EXECUTE format('ALTER TABLE %s ENABLE REPLICA TRIGGER invalidate_visibility_apply', tbl);
END $$;
REVOKE ALL ON FUNCTION watch_registry_table(regclass) FROM PUBLIC;
COMMENT ON FUNCTION watch_registry_table(regclass) IS 'install-time helper: the invalidation triggers of a registry table';
SELECT watch_registry_table(t) FROM unnest(ARRAY['purposes', 'purpose_grants', 'signal_categories']::regclass[]) t;

-- personalize.consents feeds the shared consent store (src/consent/consent_store.c):
-- the row trigger records every change, shows it to the transaction's own
-- later statements and applies it to the store when the transaction
-- commits; the statement trigger has the store rebuilt after a TRUNCATE.
-- AFTER, so that what is recorded is what was written.  Both are enabled
-- ALWAYS, so that sessions with session_replication_role = replica and the
-- logical replication apply worker (which fires row triggers only) cannot
-- change consents without the store learning it.  The trigger function
-- refuses any other table.
CREATE FUNCTION consents_changed() RETURNS trigger
	AS 'MODULE_PATHNAME', 'pz_consents_changed' LANGUAGE C;
REVOKE ALL ON FUNCTION consents_changed() FROM PUBLIC;
COMMENT ON FUNCTION consents_changed() IS 'trigger on personalize.consents: keeps the shared consent store current (at commit) and shows a transaction its own changes';
CREATE TRIGGER consents_changed AFTER INSERT OR UPDATE OR DELETE ON consents
	FOR EACH ROW EXECUTE FUNCTION consents_changed();
CREATE TRIGGER consents_truncated AFTER TRUNCATE ON consents
	FOR EACH STATEMENT EXECUTE FUNCTION consents_changed();
ALTER TABLE consents ENABLE ALWAYS TRIGGER consents_changed;
ALTER TABLE consents ENABLE ALWAYS TRIGGER consents_truncated;

CREATE FUNCTION consent_store(OUT database name, OUT state text, OUT stale boolean,
                              OUT purposes integer, OUT consents bigint, OUT classes integer,
                              OUT bytes bigint, OUT built_at timestamptz, OUT build_ms double precision,
                              OUT builds bigint, OUT changes_applied bigint, OUT detail text)
RETURNS SETOF record AS 'MODULE_PATHNAME', 'pz_consent_store_sql' LANGUAGE C VOLATILE;
REVOKE ALL ON FUNCTION consent_store() FROM PUBLIC;
COMMENT ON FUNCTION consent_store() IS
	'the consent stores in shared memory, one per database: state (ready, stale, building, unusable, empty), purposes, consents held, distinct consents, bytes, when built and how long it took, builds, committed changes applied';

CREATE TABLE protected_tables (
	relid             regclass PRIMARY KEY,
	subject_column    name NOT NULL,
	category_column   name,
	category_constant text REFERENCES signal_categories (name),
	enabled_rls       boolean NOT NULL,
	forced_rls        boolean NOT NULL DEFAULT false,
	builtin           boolean NOT NULL DEFAULT false,
	protected_by      name NOT NULL DEFAULT current_user,
	protected_at      timestamptz NOT NULL DEFAULT now(),
	inherited_from    regclass,
	CHECK ((category_column IS NULL) <> (category_constant IS NULL))
);
COMMENT ON TABLE protected_tables IS 'tables whose rows are filtered by consent, partitions and inheritance children included (rights requests erase from these too)';
COMMENT ON COLUMN protected_tables.relid IS 'the protected table';
COMMENT ON COLUMN protected_tables.subject_column IS 'its column holding the subject id';
COMMENT ON COLUMN protected_tables.category_column IS 'its text column naming each row''s signal category (or NULL)';
COMMENT ON COLUMN protected_tables.category_constant IS 'the signal category of every row (or NULL)';
COMMENT ON COLUMN protected_tables.enabled_rls IS 'protect() enabled row-level security (unprotect() disables it again)';
COMMENT ON COLUMN protected_tables.forced_rls IS 'row-level security was already forced before protect()';
COMMENT ON COLUMN protected_tables.builtin IS 'a table of the extension itself';
COMMENT ON COLUMN protected_tables.protected_by IS 'the role that called protect()';
COMMENT ON COLUMN protected_tables.protected_at IS 'when';
COMMENT ON COLUMN protected_tables.inherited_from IS 'the protected ancestor this partition or inheritance child was protected through (NULL: protected itself)';
GRANT SELECT ON protected_tables TO PUBLIC;
SELECT seal_registry_table('protected_tables', true);
SELECT watch_registry_table('protected_tables');

CREATE FUNCTION column_type(tbl regclass, col name) RETURNS regtype LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp AS $$
	SELECT atttypid::regtype FROM pg_attribute
	 WHERE attrelid = tbl AND attname = col AND attnum > 0 AND NOT attisdropped
$$;
COMMENT ON FUNCTION column_type(regclass, name) IS 'the type of a column, NULL if the table has none of that name';

-- Writes into a table with unique keys must stay on rows the writer can see:
-- otherwise a key conflict would answer whether a hidden row exists.
CREATE FUNCTION row_writable(tbl regclass, subject bigint, category text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'pz_row_writable' LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION row_writable(regclass, bigint, text) IS
	'write check of protected tables: row_visible(subject, category) when a unique or exclusion constraint could involve the subject (a conflict would reveal a hidden row), else true';

-- Descendants (partitions, inheritance children) of a table, at any depth.
CREATE FUNCTION descendants(tbl regclass) RETURNS SETOF regclass LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp AS $$
	WITH RECURSIVE d (relid) AS (
		SELECT inhrelid FROM pg_inherits WHERE inhparent = tbl
		UNION
		SELECT i.inhrelid FROM d JOIN pg_inherits i ON i.inhparent = d.relid)
	SELECT relid::regclass FROM d
$$;
COMMENT ON FUNCTION descendants(regclass) IS 'the partitions and inheritance children of a table, at any depth';

-- What key and foreign-key checks can still tell about hidden rows of a
-- protected table: PostgreSQL checks them against every row.  A unique key
-- over the subject (and the category column, if the category is one) is
-- closed by row_writable(); an identity key says nothing about anyone.
CREATE FUNCTION open_channels(tbl regclass) RETURNS text[] LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp AS $$
	WITH p AS (
		SELECT t.relid, t.subject_column, t.category_column,
		       (SELECT attnum FROM pg_attribute WHERE attrelid = t.relid AND attname = t.subject_column) AS subj,
		       (SELECT attnum FROM pg_attribute WHERE attrelid = t.relid AND attname = t.category_column) AS cat
		  FROM @extschema@.protected_tables t WHERE t.relid = tbl
	)
	SELECT coalesce(array_agg(channel ORDER BY channel), '{}') FROM (
		SELECT format('%s %s: %s', CASE WHEN i.indisexclusion THEN 'exclusion constraint' ELSE 'unique key' END,
		              ic.relname,
		              CASE WHEN i.indisexclusion THEN 'a conflicting write tells that a hidden row exists'
		                   WHEN i.indexprs IS NOT NULL THEN 'an expression key: a conflicting write tells that a hidden row exists'
		                   WHEN NOT p.subj = ANY (i.indkey::int2[]) THEN format('does not include the subject column %I: a conflicting write tells that a hidden row exists', p.subject_column)
		                   ELSE format('does not include the category column %I: a conflicting write tells that a hidden row of another category exists', p.category_column) END) AS channel
		  FROM p JOIN pg_index i ON i.indrelid = p.relid AND (i.indisunique OR i.indisexclusion)
		  JOIN pg_class ic ON ic.oid = i.indexrelid
		 WHERE (i.indisexclusion OR i.indexprs IS NOT NULL OR NOT p.subj = ANY (i.indkey::int2[])
		        OR (p.cat IS NOT NULL AND NOT p.cat = ANY (i.indkey::int2[])))
		   -- a key that is one identity column GENERATED ALWAYS names no one
		   AND NOT (i.indnatts = 1 AND i.indexprs IS NULL AND EXISTS (
		            SELECT 1 FROM pg_attribute a WHERE a.attrelid = p.relid AND a.attnum = i.indkey[0] AND a.attidentity = 'a'))
		UNION ALL
		SELECT format('foreign key %s of %s references it: inserting into %s tells whether a key exists among hidden rows',
		              c.conname, c.conrelid::regclass, c.conrelid::regclass)
		  FROM p JOIN pg_constraint c ON c.confrelid = p.relid AND c.contype = 'f'
		UNION ALL
		SELECT format('role %s may create foreign keys to it (REFERENCES privilege): such a key tells whether a key exists among hidden rows',
		              CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END)
		  FROM p JOIN pg_class c ON c.oid = p.relid, aclexplode(c.relacl) a
		 WHERE a.privilege_type = 'REFERENCES' AND a.grantee <> c.relowner
		UNION ALL
		SELECT format('extended statistics %s: planner estimates count hidden rows', s.stxname)
		  FROM p JOIN pg_statistic_ext s ON s.stxrelid = p.relid
	) c
$$;
COMMENT ON FUNCTION open_channels(regclass) IS
	'what unique keys, foreign keys, REFERENCES grants and extended statistics of a protected table can still tell about its hidden rows';

-- The permissive base policy protect() adds to a table without policies
-- depends on the extension through this function: DROP EXTENSION ... CASCADE
-- then drops it with the consent policy, and the table, whose row-level
-- security stays forced, is left closed rather than open.
CREATE FUNCTION protection_base() RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS 'SELECT true';
COMMENT ON FUNCTION protection_base() IS
	'the qual of the personalize_base policy (true): it ties the policy to the extension, so dropping the extension leaves protected tables closed';

CREATE FUNCTION protect_one(tbl regclass, subject name, category text, parent regclass)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	subject_type regtype := @extschema@.column_type(tbl, subject);
	category_type regtype := @extschema@.column_type(tbl, category::name);
	kind "char" := (SELECT relkind FROM pg_class WHERE oid = tbl);
	category_expr text;
	had_rls boolean;
	had_force boolean;
BEGIN
	-- Listed before its policies exist: the ALTER TABLE below fires the event
	-- trigger that protects new descendants, which must find it done.
	IF EXISTS (SELECT 1 FROM @extschema@.protected_tables p WHERE p.relid = tbl) THEN
		RETURN;
	END IF;
	IF kind NOT IN ('r', 'p') THEN
		RAISE EXCEPTION '% is not a table: only tables can be protected', tbl
			USING ERRCODE = 'wrong_object_type',
			      DETAIL = CASE WHEN parent IS NOT NULL THEN format('It is a partition or child of %s.', parent) END,
			      HINT = 'Row-level security cannot filter foreign tables, views or materialized views.';
	END IF;
	IF subject_type IS NULL THEN
		RAISE EXCEPTION 'table % has no column "%"', tbl, subject
			USING ERRCODE = 'undefined_column', HINT = 'subject => names the column holding the subject id.';
	END IF;
	IF subject_type NOT IN ('smallint'::regtype, 'integer'::regtype, 'bigint'::regtype) THEN
		RAISE EXCEPTION 'subject column "%" of % must be an integer type, not %', subject, tbl, subject_type
			USING ERRCODE = 'datatype_mismatch';
	END IF;
	IF category_type IS NOT NULL THEN
		IF category_type NOT IN ('text'::regtype, 'character varying'::regtype) THEN
			RAISE EXCEPTION 'category column "%" of % must be text, not %', category, tbl, category_type
				USING ERRCODE = 'datatype_mismatch';
		END IF;
		category_expr := format('%I::text', category);
	ELSE
		PERFORM @extschema@.check_categories(ARRAY[category]);
		category_expr := quote_literal(category) || '::text';
	END IF;

	SELECT relrowsecurity, relforcerowsecurity INTO had_rls, had_force FROM pg_class WHERE oid = tbl;
	INSERT INTO @extschema@.protected_tables
		(relid, subject_column, category_column, category_constant, enabled_rls, forced_rls, builtin,
		 protected_by, inherited_from)
	VALUES (tbl, subject,
	        CASE WHEN category_type IS NOT NULL THEN category END,
	        CASE WHEN category_type IS NULL THEN category END,
	        NOT had_rls, had_force, false, @extschema@.acting_role(), parent);
	EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY', tbl);
	-- Restrictive, so any policy the application already has cannot widen it.
	EXECUTE format('CREATE POLICY personalize_consent ON %s AS RESTRICTIVE FOR ALL '
	               'USING (@extschema@.row_visible(%I::bigint, %s)) '
	               'WITH CHECK (@extschema@.row_writable(%L::regclass, %I::bigint, %s))',
	               tbl, subject, category_expr, tbl::oid::text, subject, category_expr);
	IF NOT had_rls THEN
		EXECUTE format('CREATE POLICY personalize_base ON %s FOR ALL USING (@extschema@.protection_base()) '
		               'WITH CHECK (@extschema@.protection_base())', tbl);
	END IF;
END $$;
REVOKE ALL ON FUNCTION protect_one(regclass, name, text, regclass) FROM PUBLIC;
COMMENT ON FUNCTION protect_one(regclass, name, text, regclass) IS 'protect() for one table (no checks of ownership or ancestry)';

-- Partitions and children created or attached later are protected like
-- their ancestor, as part of the command that creates or attaches them.
CREATE FUNCTION protect_descendants() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	r record;
BEGIN
	FOR r IN
		SELECT d.child, p.relid AS root, p.subject_column, coalesce(p.category_column::text, p.category_constant) AS category
		  FROM @extschema@.protected_tables p
		  CROSS JOIN LATERAL @extschema@.descendants(p.relid) AS d(child)
		 WHERE p.inherited_from IS NULL
		   AND NOT EXISTS (SELECT 1 FROM @extschema@.protected_tables q WHERE q.relid = d.child)
		 ORDER BY d.child::oid
	LOOP
		PERFORM @extschema@.protect_one(r.child, r.subject_column, r.category, r.root);
	END LOOP;
END $$;
REVOKE ALL ON FUNCTION protect_descendants() FROM PUBLIC;
COMMENT ON FUNCTION protect_descendants() IS 'protect the partitions and inheritance children of protected tables that are not yet';

-- protect(table, subject => column, category => column or category name):
-- the table and all its partitions or inheritance children, now and later.
CREATE FUNCTION protect(tbl regclass, subject name, category text)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	unprotected_parent regclass;
	channel text;
BEGIN
	IF tbl IS NULL OR subject IS NULL OR category IS NULL THEN
		RAISE EXCEPTION 'table, subject and category must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF NOT pg_has_role(@extschema@.acting_role(), (SELECT relowner FROM pg_class WHERE oid = tbl), 'USAGE') THEN
		RAISE EXCEPTION 'only the owner of % may protect it', tbl USING ERRCODE = 'insufficient_privilege';
	END IF;
	IF EXISTS (SELECT 1 FROM @extschema@.protected_tables p WHERE p.relid = tbl) THEN
		RAISE EXCEPTION 'table % is already protected', tbl
			USING ERRCODE = 'duplicate_object', HINT = 'Call personalize.unprotect() first to change how.';
	END IF;
	-- reading through an unprotected parent would return this table's rows unfiltered
	SELECT i.inhparent::regclass INTO unprotected_parent FROM pg_inherits i WHERE i.inhrelid = tbl LIMIT 1;
	IF unprotected_parent IS NOT NULL THEN
		RAISE EXCEPTION 'table % is a partition or child of %, which is not protected', tbl, unprotected_parent
			USING ERRCODE = 'wrong_object_type',
			      HINT = 'Protect the parent instead: its partitions and children are protected with it.';
	END IF;
	PERFORM @extschema@.protect_one(tbl, subject, category, NULL);
	PERFORM @extschema@.protect_descendants();
	FOREACH channel IN ARRAY @extschema@.open_channels(tbl) LOOP
		RAISE WARNING 'personal data of % can still be probed through %', tbl, channel
			USING HINT = 'See the "open_channels" column of personalize.protection_status.';
	END LOOP;
END $$;
COMMENT ON FUNCTION protect(regclass, name, text) IS
	'filter an application table, its partitions and children by consent: subject => its subject column, category => a text column or a category name';

CREATE FUNCTION protect_new_descendants() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	PERFORM @extschema@.protect_descendants();
END $$;
REVOKE ALL ON FUNCTION protect_new_descendants() FROM PUBLIC;
COMMENT ON FUNCTION protect_new_descendants() IS 'event trigger: protect partitions and inheritance children of protected tables as they are created or attached';
CREATE EVENT TRIGGER personalize_protect_descendants ON ddl_command_end
	WHEN TAG IN ('CREATE TABLE', 'ALTER TABLE', 'CREATE FOREIGN TABLE')
	EXECUTE FUNCTION protect_new_descendants();
ALTER EVENT TRIGGER personalize_protect_descendants ENABLE ALWAYS;

CREATE FUNCTION forget_dropped_tables() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	DELETE FROM @extschema@.protected_tables p
	 WHERE p.relid::oid IN (SELECT o.objid FROM pg_event_trigger_dropped_objects() o
	                         WHERE o.classid = 'pg_class'::regclass AND o.objsubid = 0);
END $$;
REVOKE ALL ON FUNCTION forget_dropped_tables() FROM PUBLIC;
COMMENT ON FUNCTION forget_dropped_tables() IS 'event trigger: a dropped table is no longer listed as protected';
CREATE EVENT TRIGGER personalize_forget_dropped ON sql_drop
	WHEN TAG IN ('DROP TABLE', 'DROP SCHEMA', 'DROP OWNED')
	EXECUTE FUNCTION forget_dropped_tables();
ALTER EVENT TRIGGER personalize_forget_dropped ENABLE ALWAYS;

CREATE FUNCTION unprotect(tbl regclass) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	p @extschema@.protected_tables;
BEGIN
	SELECT * INTO p FROM @extschema@.protected_tables t WHERE t.relid = tbl;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'table % is not protected', tbl USING ERRCODE = 'undefined_object';
	END IF;
	IF p.builtin THEN
		RAISE EXCEPTION 'table % belongs to personalize and stays protected', tbl
			USING ERRCODE = 'insufficient_privilege';
	END IF;
	IF NOT pg_has_role(@extschema@.acting_role(), (SELECT relowner FROM pg_class WHERE oid = tbl), 'USAGE') THEN
		RAISE EXCEPTION 'only the owner of % may unprotect it', tbl USING ERRCODE = 'insufficient_privilege';
	END IF;
	IF p.inherited_from IS NOT NULL AND EXISTS (SELECT 1 FROM @extschema@.descendants(p.inherited_from) d WHERE d = tbl) THEN
		RAISE EXCEPTION 'table % is protected as a partition or child of %', tbl, p.inherited_from
			USING ERRCODE = 'wrong_object_type', HINT = 'Unprotect the parent; its partitions and children go with it.';
	END IF;
	FOR p IN SELECT * FROM @extschema@.protected_tables t WHERE t.relid = tbl OR t.inherited_from = tbl LOOP
		EXECUTE format('DROP POLICY IF EXISTS personalize_consent ON %s', p.relid);
		IF p.enabled_rls THEN
			EXECUTE format('DROP POLICY IF EXISTS personalize_base ON %s', p.relid);
			EXECUTE format('ALTER TABLE %s DISABLE ROW LEVEL SECURITY', p.relid);
		END IF;
		IF NOT p.forced_rls THEN
			EXECUTE format('ALTER TABLE %s NO FORCE ROW LEVEL SECURITY', p.relid);
		END IF;
		DELETE FROM @extschema@.protected_tables t WHERE t.relid = p.relid;
	END LOOP;
END $$;
COMMENT ON FUNCTION unprotect(regclass) IS 'remove the consent filter protect() added, from the table and the partitions and children protected with it';
REVOKE ALL ON FUNCTION protect(regclass, name, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION unprotect(regclass) FROM PUBLIC;

-- The extension's own behavioural data: readable only through the policy,
-- and only by roles holding a purpose (grant_purpose() gives them SELECT);
-- nobody but a BYPASSRLS role updates or deletes (no such policy exists).
ALTER TABLE interactions ENABLE ROW LEVEL SECURITY;
ALTER TABLE interactions FORCE ROW LEVEL SECURITY;
CREATE POLICY personalize_consent ON interactions FOR SELECT
	USING (@extschema@.row_visible(subject_id, category));
CREATE POLICY personalize_insert ON interactions FOR INSERT WITH CHECK (true);
INSERT INTO protected_tables (relid, subject_column, category_column, enabled_rls, forced_rls, builtin)
VALUES ('interactions', 'subject_id', 'category', false, false, true);

SELECT pg_catalog.pg_extension_config_dump('protected_tables', 'WHERE NOT builtin');

-- ---- sql/install/080_audit.sql
-- Views for the DBA.  They read the ledger and consents as their owner (the
-- installing superuser), so they are not granted to anyone by default.

CREATE VIEW consent_coverage AS
SELECT c.purpose, @extschema@.tier(c.consent) AS tier, sc.name AS category, sc.tier AS category_tier,
       count(*) FILTER (WHERE @extschema@.consent_allows_tier(c.consent, sc.name, sc.tier)
                          AND sc.tier <= (SELECT array_position(enum_range(NULL::@extschema@.consent_tier), p.max_tier) - 1
                                            FROM @extschema@.purposes p WHERE p.name = c.purpose)) AS subjects_allowed,
       count(*) AS subjects_with_consent
  FROM @extschema@.consents c CROSS JOIN @extschema@.signal_categories sc
 GROUP BY 1, 2, 3, 4;
COMMENT ON VIEW consent_coverage IS 'per purpose, consent tier and category: how many subjects allow it';

CREATE VIEW consent_history AS
SELECT entry_id, subject_id, purpose, action, consent, @extschema@.tier(consent) AS tier,
       source, notice_version, recorded_by, recorded_at
  FROM @extschema@.consent_ledger;
COMMENT ON VIEW consent_history IS 'the consent ledger, in order';

CREATE VIEW purpose_access AS
SELECT g.role, g.purpose, p.max_tier, p.personal_data_allowed, g.granted_by, g.granted_at,
       ARRAY(SELECT m.roleid::regrole FROM pg_auth_members m WHERE m.member = g.role::oid) AS member_of
  FROM @extschema@.purpose_grants g JOIN @extschema@.purposes p ON p.name = g.purpose;
COMMENT ON VIEW purpose_access IS 'which roles may act under which purpose';

CREATE VIEW protection_status AS
SELECT t.relid AS table_name, t.subject_column, coalesce(t.category_column::text, quote_literal(t.category_constant)) AS category,
       c.relrowsecurity AS rls_enabled, c.relforcerowsecurity AS rls_forced,
       EXISTS (SELECT 1 FROM pg_policy pol WHERE pol.polrelid = t.relid AND pol.polname = 'personalize_consent') AS policy_present,
       t.inherited_from,
       ARRAY(SELECT d FROM @extschema@.descendants(t.relid) d
              WHERE NOT EXISTS (SELECT 1 FROM @extschema@.protected_tables p WHERE p.relid = d)
              ORDER BY d::text) AS unprotected_descendants,
       @extschema@.open_channels(t.relid) AS open_channels,
       t.protected_by, t.protected_at
  FROM @extschema@.protected_tables t JOIN pg_class c ON c.oid = t.relid;
COMMENT ON VIEW protection_status IS 'tables filtered by consent, whether their protection is intact, and what their keys can still tell about hidden rows';
COMMENT ON COLUMN protection_status.table_name IS 'the protected table';
COMMENT ON COLUMN protection_status.subject_column IS 'its column holding the subject id';
COMMENT ON COLUMN protection_status.category IS 'its category column, or the quoted category of every row';
COMMENT ON COLUMN protection_status.rls_enabled IS 'row-level security is enabled (false: protection lifted by the owner)';
COMMENT ON COLUMN protection_status.rls_forced IS 'row-level security is forced, so the owner is filtered too';
COMMENT ON COLUMN protection_status.policy_present IS 'the personalize_consent policy is in place';
COMMENT ON COLUMN protection_status.inherited_from IS 'the protected ancestor it was protected through, for a partition or inheritance child';
COMMENT ON COLUMN protection_status.unprotected_descendants IS 'partitions or children not protected (should be empty: new ones are protected as they are created)';
COMMENT ON COLUMN protection_status.open_channels IS 'unique keys, foreign keys, REFERENCES grants and extended statistics that can still tell about hidden rows';
COMMENT ON COLUMN protection_status.protected_by IS 'the role that called protect()';
COMMENT ON COLUMN protection_status.protected_at IS 'when';

REVOKE ALL ON consent_coverage, consent_history, purpose_access, protection_status FROM PUBLIC;

-- ---- sql/install/085_metrics.sql
-- Evaluation helpers: ranking metrics at a cutoff k (binary relevance, the
-- conventions of the implicit library's ranking_metrics_at_k) and the gini()
-- aggregate.  Training calls the same C code (src/model/metrics.h).
--
-- For ranked (the list, best first), relevant (held-out ids) and k >= 1:
--   only ranked[1..k] counts; positions past the end of ranked are misses;
--   an id repeated in ranked counts at its first position only;
--   relevant is a set (duplicates and order ignored), R = its size, m = min(k, R);
--   rel(i) = 1 when ranked[i] is relevant and not already counted, else 0.
-- A NULL argument gives NULL; a NULL element, a multi-dimensional array or
-- k < 1 is an error.  With R = 0, recall, AP and NDCG are undefined: NULL.
--
-- Implicit averages AP and NDCG over users that have held-out items (what
-- avg() over these functions does, NULLs skipped), but its "precision" is a
-- ratio of totals: sum(hits_at_k) / sum(least(k, R)) over those users.

CREATE FUNCTION hits_at_k(ranked bigint[], relevant bigint[], k integer) RETURNS integer
	AS 'MODULE_PATHNAME', 'pz_sql_hits_at_k' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION hits_at_k(bigint[], bigint[], integer) IS
	'hits = sum_{i=1..k} rel(i): distinct relevant ids among the first k ranked';

CREATE FUNCTION precision_at_k(ranked bigint[], relevant bigint[], k integer) RETURNS double precision
	AS 'MODULE_PATHNAME', 'pz_sql_precision_at_k' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION precision_at_k(bigint[], bigint[], integer) IS
	'hits / k (textbook precision; a list shorter than k is padded with misses; 0 when relevant is empty). Not implicit''s "precision", which is recall_at_k';

CREATE FUNCTION recall_at_k(ranked bigint[], relevant bigint[], k integer) RETURNS double precision
	AS 'MODULE_PATHNAME', 'pz_sql_recall_at_k' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION recall_at_k(bigint[], bigint[], integer) IS
	'hits / min(k, R), R = distinct relevant ids (implicit''s per-user precision: 1 for a perfect list even when R > k); NULL when R = 0';

CREATE FUNCTION average_precision_at_k(ranked bigint[], relevant bigint[], k integer) RETURNS double precision
	AS 'MODULE_PATHNAME', 'pz_sql_average_precision_at_k' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION average_precision_at_k(bigint[], bigint[], integer) IS
	'AP@k = (1 / min(k, R)) * sum_{i=1..k} rel(i) * hits(1..i) / i (implicit''s convention; MAP@k = avg over users); NULL when R = 0';

CREATE FUNCTION ndcg_at_k(ranked bigint[], relevant bigint[], k integer) RETURNS double precision
	AS 'MODULE_PATHNAME', 'pz_sql_ndcg_at_k' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ndcg_at_k(bigint[], bigint[], integer) IS
	'DCG / IDCG, DCG = sum_{i=1..k} rel(i) / log2(i + 1), IDCG = sum_{i=1..min(k, R)} 1 / log2(i + 1) (binary relevance, implicit''s convention); NULL when R = 0';

-- gini(): the state holds every value (8 bytes each) in the aggregate's
-- memory; partial states from parallel workers are concatenated.  The final
-- function sorts the values in place, which keeps them as a multiset, so it
-- does not modify the state in any way that matters (READ_ONLY).

CREATE FUNCTION gini_accum(internal, double precision) RETURNS internal
	AS 'MODULE_PATHNAME', 'pz_gini_accum' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION gini_combine(internal, internal) RETURNS internal
	AS 'MODULE_PATHNAME', 'pz_gini_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION gini_serialize(internal) RETURNS bytea
	AS 'MODULE_PATHNAME', 'pz_gini_serialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION gini_deserialize(bytea, internal) RETURNS internal
	AS 'MODULE_PATHNAME', 'pz_gini_deserialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION gini_final(internal) RETURNS double precision
	AS 'MODULE_PATHNAME', 'pz_gini_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE gini(double precision) (
	SFUNC = gini_accum,
	STYPE = internal,
	FINALFUNC = gini_final,
	FINALFUNC_MODIFY = READ_ONLY,
	COMBINEFUNC = gini_combine,
	SERIALFUNC = gini_serialize,
	DESERIALFUNC = gini_deserialize,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE gini(double precision) IS
	'Gini coefficient: with x sorted ascending, G = 2 * sum_{i=1..n} i * x_i / (n * sum x) - (n + 1) / n; 0 for no rows or sum 0. Include the zeros (items never shown): a NULL is skipped, not counted as 0. Negative, NaN and infinite inputs are errors';

-- ---- sql/install/090_models.sql
-- Models: every version trained in the database, with what it was trained
-- on, how it scored on held-out data, and its status.  Only item-side
-- parameters are stored: subject factors are folded in at request time from
-- the history visible then (subject_factors()), so no per-subject model data
-- is kept at rest.

CREATE TABLE interaction_kinds (
	kind    text PRIMARY KEY CHECK (kind ~ '^[a-z][a-z0-9_]{0,30}$'),
	weight  real NOT NULL CHECK (weight > 0 AND weight < 'Infinity'::real),
	builtin boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE interaction_kinds IS 'training weight of each interaction kind (multiplied by the interaction''s own weight)';
INSERT INTO interaction_kinds VALUES
	('view', 1, true), ('click', 1, true), ('wishlist', 2, true),
	('cart', 3, true), ('purchase', 5, true), ('rating', 1, true);
GRANT SELECT ON interaction_kinds TO PUBLIC;

CREATE TABLE models (
	model_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	algorithm       text NOT NULL CHECK (algorithm IN ('als', 'itemknn', 'popularity')),
	purpose         text NOT NULL REFERENCES purposes (name),
	status          text NOT NULL DEFAULT 'training'
	                CHECK (status IN ('training', 'candidate', 'active', 'rejected', 'retired')),
	params          jsonb NOT NULL DEFAULT '{}',
	data            jsonb NOT NULL DEFAULT '{}',
	metrics         jsonb NOT NULL DEFAULT '{}',
	privacy         jsonb,
	warnings        text[] NOT NULL DEFAULT '{}',
	trained_by      name NOT NULL,
	created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
	training_ms     double precision,
	activated_at    timestamptz,
	retired_at      timestamptz,
	status_reason   text
);
CREATE UNIQUE INDEX models_one_active ON models (purpose) WHERE status = 'active';
COMMENT ON TABLE models IS 'every model version: parameters, data snapshot, held-out metrics, status';
GRANT SELECT ON models TO PUBLIC;

CREATE TABLE model_item_factors (
	model_id bigint NOT NULL REFERENCES models ON DELETE CASCADE,
	item_id  bigint NOT NULL,
	factors  embedding NOT NULL,
	PRIMARY KEY (model_id, item_id)
);
CREATE TABLE model_neighbors (
	model_id    bigint NOT NULL REFERENCES models ON DELETE CASCADE,
	item_id     bigint NOT NULL,
	neighbor_id bigint NOT NULL,
	score       real NOT NULL,
	PRIMARY KEY (model_id, item_id, neighbor_id)
);
CREATE TABLE model_popularity (
	model_id bigint NOT NULL REFERENCES models ON DELETE CASCADE,
	item_id  bigint NOT NULL,
	category text,
	score    real NOT NULL,
	PRIMARY KEY (model_id, item_id)
);
GRANT SELECT ON model_item_factors, model_neighbors, model_popularity TO PUBLIC;
SELECT seal_registry_table(t, true)
  FROM unnest(ARRAY['interaction_kinds', 'models', 'model_item_factors', 'model_neighbors', 'model_popularity']::regclass[]) t;

SELECT pg_catalog.pg_extension_config_dump('interaction_kinds', 'WHERE NOT builtin');
SELECT pg_catalog.pg_extension_config_dump('models', '');
SELECT pg_catalog.pg_extension_config_dump('model_item_factors', '');
SELECT pg_catalog.pg_extension_config_dump('model_neighbors', '');
SELECT pg_catalog.pg_extension_config_dump('model_popularity', '');

CREATE FUNCTION train_model(algorithm text, purpose text, params jsonb, trained_by name)
RETURNS bigint
	AS 'MODULE_PATHNAME', 'pz_train_model' LANGUAGE C VOLATILE STRICT;
REVOKE ALL ON FUNCTION train_model(text, text, jsonb, name) FROM PUBLIC;

-- The caller (SET ROLE counts) must hold a purpose to act under it.
CREATE FUNCTION require_purpose(purpose text, action text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	caller name := @extschema@.acting_role();
BEGIN
	PERFORM @extschema@.check_purpose_exists(purpose);
	IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = caller AND rolsuper)
	   AND NOT EXISTS (SELECT 1 FROM @extschema@.purpose_grants g
	                    WHERE g.purpose = ANY (@extschema@.purpose_chain(require_purpose.purpose))
	                      AND pg_has_role(caller, g.role, 'USAGE')) THEN
		RAISE EXCEPTION 'role "%" may not % for purpose "%"', caller, action, purpose
			USING ERRCODE = 'insufficient_privilege',
			      HINT = format('An administrator can allow it with SELECT personalize.grant_purpose(%L, %L).', caller, purpose);
	END IF;
END $$;
REVOKE ALL ON FUNCTION require_purpose(text, text) FROM PUBLIC;

CREATE FUNCTION train(algorithm text, purpose text DEFAULT 'recommendation',
                      factors integer DEFAULT NULL, iterations integer DEFAULT NULL,
                      regularization real DEFAULT NULL, alpha real DEFAULT NULL,
                      neighbors integer DEFAULT NULL, weighting text DEFAULT NULL,
                      half_life interval DEFAULT NULL, tune boolean DEFAULT false,
                      holdout real DEFAULT NULL, k integer DEFAULT NULL,
                      seed bigint DEFAULT NULL, activate text DEFAULT 'auto',
                      params jsonb DEFAULT '{}')
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	p jsonb := coalesce(params, '{}') || jsonb_strip_nulls(jsonb_build_object(
		'factors', factors, 'iterations', iterations, 'regularization', regularization,
		'alpha', alpha, 'neighbors', neighbors, 'weighting', weighting,
		'half_life_days', extract(epoch FROM half_life) / 86400, 'tune', tune,
		'holdout', holdout, 'k', k, 'seed', seed, 'activate', activate));
BEGIN
	IF purpose IS NULL OR algorithm IS NULL THEN
		RAISE EXCEPTION 'algorithm and purpose must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM @extschema@.require_purpose(purpose, 'train models');
	RETURN @extschema@.train_model(algorithm, purpose, p, @extschema@.acting_role());
END $$;
COMMENT ON FUNCTION train(text, text, integer, integer, real, real, integer, text, interval, boolean, real, integer, bigint, text, jsonb) IS
	'train a model (als, itemknn, popularity) on consented data only, evaluate it on held-out data, record it, and activate it if it is not worse than the active one';
REVOKE ALL ON FUNCTION train(text, text, integer, integer, real, real, integer, text, interval, boolean, real, integer, bigint, text, jsonb) FROM PUBLIC;

CREATE FUNCTION subject_factors(model bigint, subject bigint) RETURNS embedding
	AS 'MODULE_PATHNAME', 'pz_subject_factors' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION subject_factors(bigint, bigint) IS
	'a subject''s ALS factors, solved exactly from their history visible under the model''s purpose now (NULL without any); the caller must hold the purpose';

-- Activation swaps status in one transaction: a reader sees the old model or
-- the new one, never both or neither.
CREATE FUNCTION activate_model(model bigint) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	m @extschema@.models;
BEGIN
	SELECT * INTO m FROM @extschema@.models WHERE model_id = model FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'model % does not exist', model USING ERRCODE = 'undefined_object';
	END IF;
	IF m.status = 'active' THEN
		RETURN;
	END IF;
	IF m.status = 'training' THEN
		RAISE EXCEPTION 'model % has not finished training', model USING ERRCODE = 'object_not_in_prerequisite_state';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM @extschema@.model_item_factors WHERE model_id = model)
	   AND NOT EXISTS (SELECT 1 FROM @extschema@.model_neighbors WHERE model_id = model)
	   AND NOT EXISTS (SELECT 1 FROM @extschema@.model_popularity WHERE model_id = model) THEN
		RAISE EXCEPTION 'model % has no stored parameters (pruned?)', model
			USING ERRCODE = 'object_not_in_prerequisite_state';
	END IF;
	-- lock out a concurrent activation for the same purpose (a row lock no
	-- other role can take: FOR UPDATE needs UPDATE on purposes)
	PERFORM 1 FROM @extschema@.purposes p WHERE p.name = m.purpose FOR NO KEY UPDATE;
	UPDATE @extschema@.models SET status = 'retired', retired_at = clock_timestamp(),
	       status_reason = format('replaced by model %s', model)
	 WHERE purpose = m.purpose AND status = 'active';
	UPDATE @extschema@.models SET status = 'active', activated_at = clock_timestamp(),
	       status_reason = NULL, retired_at = NULL
	 WHERE model_id = model;
END $$;
COMMENT ON FUNCTION activate_model(bigint) IS 'make a model the active one for its purpose (atomically retires the previous)';

CREATE FUNCTION rollback_model(purpose text DEFAULT 'recommendation') RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	previous bigint;
BEGIN
	SELECT model_id INTO previous FROM @extschema@.models m
	 WHERE m.purpose = rollback_model.purpose AND m.status = 'retired'
	   AND (EXISTS (SELECT 1 FROM @extschema@.model_item_factors f WHERE f.model_id = m.model_id)
	        OR EXISTS (SELECT 1 FROM @extschema@.model_neighbors f WHERE f.model_id = m.model_id)
	        OR EXISTS (SELECT 1 FROM @extschema@.model_popularity f WHERE f.model_id = m.model_id))
	 ORDER BY m.activated_at DESC NULLS LAST, m.model_id DESC LIMIT 1;
	IF previous IS NULL THEN
		RAISE EXCEPTION 'no previous model to roll back to for purpose "%"', purpose
			USING ERRCODE = 'object_not_in_prerequisite_state';
	END IF;
	PERFORM @extschema@.activate_model(previous);
	RETURN previous;
END $$;
COMMENT ON FUNCTION rollback_model(text) IS 'reactivate the most recently active retired model of a purpose';
REVOKE ALL ON FUNCTION activate_model(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION rollback_model(text) FROM PUBLIC;

-- The model card: generated from training metadata, never written by hand.
CREATE FUNCTION model_card(model bigint) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT jsonb_build_object(
		'model_id', m.model_id,
		'algorithm', m.algorithm,
		'status', m.status,
		'purpose', jsonb_build_object('name', m.purpose, 'description', p.description),
		'trained_at', m.created_at,
		'trained_by', m.trained_by,
		'signal_categories', coalesce((
			SELECT jsonb_agg(jsonb_build_object('category', c.name, 'tier', c.tier,
			                                    'justification', c.justification,
			                                    'retention', c.retention) ORDER BY c.name)
			  FROM @extschema@.signal_categories c
			 WHERE c.name IN (SELECT jsonb_array_elements_text(m.data -> 'categories_used'))), '[]'),
		'categories_skipped', coalesce(m.data -> 'categories_skipped', '[]'),
		'data', m.data - 'categories_used' - 'categories_skipped',
		'hyperparameters', m.params,
		'metrics', m.metrics,
		'privacy', coalesce(m.privacy, jsonb_build_object('differential_privacy', false)),
		'intended_use', 'Ranking catalogue items by predicted preference for subjects who consented to the purpose "'
		                || m.purpose || '".',
		'not_intended_for', jsonb_build_array(
			'pricing or any decision about what a person pays (personalized pricing is refused)',
			'inferring demographic or other sensitive attributes of a person',
			'decisions with legal or similarly significant effects on a person'),
		'limitations', jsonb_build_array(
			'Learns only from subjects and categories with consent at training time; subjects who withdraw are removed at the next version, and get no personalized output at once.',
			'Implicit feedback: interactions show exposure as much as preference, so popular items are over-represented.',
			'Cold start: subjects or items without history fall back to popularity.',
			'Metrics are measured on a random per-subject hold-out of the same period, not on future behaviour.'),
		'warnings', to_jsonb(m.warnings))
	  FROM @extschema@.models m JOIN @extschema@.purposes p ON p.name = m.purpose
	 WHERE m.model_id = model
$$;
COMMENT ON FUNCTION model_card(bigint) IS 'the model card of a model version, as jsonb';

CREATE VIEW model_cards AS
SELECT m.model_id, m.algorithm, m.purpose, m.status, m.created_at,
       (m.data ->> 'subjects_included')::bigint AS subjects_included,
       (m.data -> 'subjects_left_out' ->> 'total')::bigint AS subjects_left_out,
       (m.metrics ->> 'ndcg_at_k')::float8 AS ndcg_at_k,
       (m.metrics ->> 'recall_at_k')::float8 AS recall_at_k,
       (m.metrics ->> 'coverage')::float8 AS coverage,
       (m.metrics ->> 'gini')::float8 AS gini,
       @extschema@.model_card(m.model_id) AS card
  FROM @extschema@.models m;
COMMENT ON VIEW model_cards IS 'one row per model version with its card';

-- ---- sql/install/100_serving.sql
-- Serving: recommend(), explain(), and what they leave behind (impressions,
-- feedback).  The active model and the catalogue are read into a snapshot
-- shared between sessions; committed changes to items or models replace it.

CREATE FUNCTION serving_changed() RETURNS trigger
	AS 'MODULE_PATHNAME', 'pz_serving_changed' LANGUAGE C;
REVOKE ALL ON FUNCTION serving_changed() FROM PUBLIC;
COMMENT ON FUNCTION serving_changed() IS 'trigger on items and models: recommend() rebuilds its snapshot after the change commits';
-- Statement triggers fire in every session (a sponsored flag must reach
-- recommend() even under session_replication_role = replica); row triggers,
-- in replica sessions only, cover the logical replication apply worker,
-- which fires no statement triggers.
CREATE TRIGGER serving_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON items
	FOR EACH STATEMENT EXECUTE FUNCTION serving_changed();
CREATE TRIGGER serving_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON models
	FOR EACH STATEMENT EXECUTE FUNCTION serving_changed();
CREATE TRIGGER serving_changed_apply BEFORE INSERT OR UPDATE OR DELETE ON items
	FOR EACH ROW EXECUTE FUNCTION serving_changed();
CREATE TRIGGER serving_changed_apply BEFORE INSERT OR UPDATE OR DELETE ON models
	FOR EACH ROW EXECUTE FUNCTION serving_changed();
ALTER TABLE items ENABLE ALWAYS TRIGGER serving_changed;
ALTER TABLE models ENABLE ALWAYS TRIGGER serving_changed;
ALTER TABLE items ENABLE REPLICA TRIGGER serving_changed_apply;
ALTER TABLE models ENABLE REPLICA TRIGGER serving_changed_apply;

-- Personal data (who was shown what): readable by the extension's owner
-- only, written by recommend() and feedback().
CREATE TABLE impressions (
	impression_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	shown_at      timestamptz NOT NULL DEFAULT now(),
	subject_id    bigint,
	purpose       text NOT NULL,
	model_id      bigint NOT NULL,
	item_id       bigint NOT NULL,
	rank          integer NOT NULL,
	score         real,
	explored      boolean NOT NULL,
	sponsored     boolean NOT NULL
);
CREATE INDEX ON impressions (subject_id, shown_at);
COMMENT ON TABLE impressions IS 'what recommend() showed: model version, rank, explored and sponsored flags (subject_id NULL without a consent for the purpose)';

CREATE TABLE feedback (
	feedback_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	recorded_at timestamptz NOT NULL DEFAULT now(),
	subject_id  bigint,
	purpose     text NOT NULL,
	item_id     bigint NOT NULL,
	kind        text NOT NULL,
	reward      real NOT NULL CHECK (reward >= 0 AND reward <= 1)
);
CREATE INDEX ON feedback (subject_id, recorded_at);
COMMENT ON TABLE feedback IS 'clicks and conversions on what was shown; rewards feed the exploration posteriors';

ALTER TABLE impressions ENABLE ROW LEVEL SECURITY;
ALTER TABLE impressions FORCE ROW LEVEL SECURITY;
ALTER TABLE feedback ENABLE ROW LEVEL SECURITY;
ALTER TABLE feedback FORCE ROW LEVEL SECURITY;
SELECT pg_catalog.pg_extension_config_dump('impressions', '');
SELECT pg_catalog.pg_extension_config_dump('feedback', '');

CREATE FUNCTION recommend(subject bigint, k integer DEFAULT 10,
                          purpose text DEFAULT 'recommendation', category text DEFAULT NULL,
                          exclude bigint[] DEFAULT '{}', diversity real DEFAULT 0,
                          exploration real DEFAULT NULL, exclude_seen boolean DEFAULT true,
                          sponsored_share real DEFAULT NULL, seed bigint DEFAULT NULL)
RETURNS TABLE (item_id bigint, score real, rank integer, reason text,
               explored boolean, sponsored boolean)
	AS 'MODULE_PATHNAME', 'pz_recommend' LANGUAGE C VOLATILE ROWS 10;
COMMENT ON FUNCTION recommend(bigint, integer, text, text, bigint[], real, real, boolean, real, bigint) IS
	'top-k items for a subject from the active model of the purpose, with a reason per row, diversity, exploration and sponsored disclosure';

CREATE FUNCTION explain(subject bigint, item bigint, purpose text DEFAULT 'recommendation')
RETURNS TABLE (source text, history_item bigint, name text, kind text,
               contribution real, share real)
	AS 'MODULE_PATHNAME', 'pz_explain' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION explain(bigint, bigint, text) IS
	'what a recommendation score is made of: each history item''s contribution (ALS, item-kNN), or popularity';

CREATE FUNCTION bandit_reward(purpose text, item bigint, reward real) RETURNS void
	AS 'MODULE_PATHNAME', 'pz_bandit_reward' LANGUAGE C VOLATILE STRICT;
REVOKE ALL ON FUNCTION bandit_reward(text, bigint, real) FROM PUBLIC;


CREATE FUNCTION feedback(subject bigint, item bigint, reward real DEFAULT 1,
                         purpose text DEFAULT 'recommendation', kind text DEFAULT 'click')
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	consented boolean;
BEGIN
	IF subject IS NULL OR item IS NULL OR purpose IS NULL THEN
		RAISE EXCEPTION 'subject, item and purpose must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF reward IS NULL OR NOT (reward >= 0 AND reward <= 1) THEN
		RAISE EXCEPTION 'reward must be between 0 and 1, not %', coalesce(reward::text, 'NULL')
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'Record a click or a conversion as 1, a partial outcome as a fraction.';
	END IF;
	IF kind IS NULL OR kind !~ '^[a-z][a-z0-9_]{0,30}$' THEN
		RAISE EXCEPTION 'invalid feedback kind "%"', kind USING ERRCODE = 'invalid_parameter_value';
	END IF;
	PERFORM @extschema@.require_purpose(purpose, 'record feedback');
	IF NOT (SELECT bool_and(p.personal_data_allowed AND NOT p.decides_terms) FROM @extschema@.purposes p
	         WHERE p.name = feedback.purpose OR starts_with(feedback.purpose, p.name || '.')) THEN
		RAISE EXCEPTION 'purpose "%" may not use personal data', purpose
			USING ERRCODE = 'insufficient_privilege',
			      DETAIL = 'Feedback is personal data; personalized pricing is refused.';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM @extschema@.items i WHERE i.item_id = item) THEN
		RAISE EXCEPTION 'item % is not in the catalogue', item USING ERRCODE = 'undefined_object';
	END IF;
	SELECT @extschema@.tier(c.consent) >= 'functional' INTO consented
	  FROM @extschema@.consents c
	 WHERE c.subject_id = subject AND c.purpose = ANY (@extschema@.purpose_chain(feedback.purpose))
	 ORDER BY length(c.purpose) DESC LIMIT 1;
	INSERT INTO @extschema@.feedback (subject_id, purpose, item_id, kind, reward)
	VALUES (CASE WHEN consented THEN subject END, purpose, item, kind, reward);
	PERFORM @extschema@.bandit_reward(purpose, item, reward);
END $$;
COMMENT ON FUNCTION feedback(bigint, bigint, real, text, text) IS
	'record a click or conversion (reward in [0, 1]) on a recommended item; it updates the exploration posteriors at once';

CREATE FUNCTION bandit_arms(purpose text DEFAULT 'recommendation')
RETURNS TABLE (item_id bigint, shown bigint, rewards real, posterior_mean real)
	AS 'MODULE_PATHNAME', 'pz_bandit_arms' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION bandit_arms(text) IS
	'exploration posteriors of the items shown or rewarded under a purpose: Beta(1 + rewards, 1 + shown - rewards)';

CREATE FUNCTION serving_snapshots()
RETURNS TABLE (purpose text, model_id bigint, catalogue_version bigint, items integer, bytes bigint)
	AS 'MODULE_PATHNAME', 'pz_serving_snapshots' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION serving_snapshots() IS
	'model snapshots this database shares in memory between sessions (one per purpose being served)';
