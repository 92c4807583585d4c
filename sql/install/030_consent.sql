-- Consent tiers and the consent type.

CREATE TYPE consent_tier AS ENUM ('none', 'functional', 'personalization', 'enhanced');
COMMENT ON TYPE consent_tier IS 'ordered consent tiers: none < functional < personalization < enhanced';

CREATE TYPE consent;
CREATE FUNCTION consent_in(cstring) RETURNS consent
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION consent_in(cstring) IS 'input function of type consent: text such as personalization+location-purchase_history (syntax only: categories are checked where a consent is made or recorded)';
CREATE FUNCTION consent_out(consent) RETURNS cstring
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION consent_out(consent) IS 'output function of type consent: the canonical text (lists sorted, duplicates dropped)';
CREATE FUNCTION consent_recv(internal) RETURNS consent
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION consent_recv(internal) IS 'binary input of type consent: the canonical text, NUL-terminated';
CREATE FUNCTION consent_send(consent) RETURNS bytea
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION consent_send(consent) IS 'binary output of type consent: the canonical text, NUL-terminated';
CREATE TYPE consent (
	INPUT = consent_in, OUTPUT = consent_out,
	RECEIVE = consent_recv, SEND = consent_send,
	INTERNALLENGTH = VARIABLE, STORAGE = main
);
COMMENT ON TYPE consent IS 'a consent for one purpose: tier plus explicitly granted (+) and denied (-) signal categories, e.g. personalization+location-purchase_history';

-- Making a consent from category names checks them against the registry
-- (personalize.signal_categories), so these read it: STABLE, not IMMUTABLE.
CREATE FUNCTION consent_make(text, text[], text[]) RETURNS consent
	AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION consent_make(text, text[], text[]) IS 'make_consent() without defaults: tier name, granted and denied categories (each must be registered)';
CREATE FUNCTION make_consent(tier consent_tier, "grant" text[] DEFAULT '{}', deny text[] DEFAULT '{}')
	RETURNS consent LANGUAGE sql STABLE PARALLEL SAFE
	AS $$ SELECT @extschema@.consent_make(tier::text, coalesce("grant", '{}'), coalesce(deny, '{}')) $$;
COMMENT ON FUNCTION make_consent(consent_tier, text[], text[]) IS 'build a consent; a category both granted and denied is denied; every category must be registered';

CREATE FUNCTION consent_tier_name(consent) RETURNS text
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION consent_tier_name(consent) IS 'the tier of a consent as text (tier() returns it as a consent_tier)';
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
	AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION consent_grant(consent, text) IS 'the consent with a registered category granted explicitly (lifts a denial; the + operator)';
CREATE FUNCTION consent_revoke(consent, text) RETURNS consent
	AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION consent_revoke(consent, text) IS 'the consent with a registered category denied explicitly (lifts a grant; the - operator)';
CREATE FUNCTION consent_allows_tier(consent, text, integer) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION consent_allows_tier(consent, text, integer) IS 'tier rules for a category of the given tier (1, 2 or 3)';
CREATE FUNCTION consent_eq(consent, consent) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION consent_eq(consent, consent) IS 'same tier, grants and denials (the = operator)';

CREATE OPERATOR + (LEFTARG = consent, RIGHTARG = text, PROCEDURE = consent_grant);
CREATE OPERATOR - (LEFTARG = consent, RIGHTARG = text, PROCEDURE = consent_revoke);
CREATE OPERATOR = (LEFTARG = consent, RIGHTARG = consent, PROCEDURE = consent_eq,
	COMMUTATOR = =, RESTRICT = eqsel, JOIN = eqjoinsel);
COMMENT ON OPERATOR +(consent, text) IS 'grant a registered category explicitly: ''functional''::consent + ''location''';
COMMENT ON OPERATOR -(consent, text) IS 'deny a registered category explicitly: ''enhanced''::consent - ''location''';
COMMENT ON OPERATOR =(consent, consent) IS 'same tier, grants and denials';
