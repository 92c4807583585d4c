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
COMMENT ON COLUMN items.item_id IS 'the application''s id of the item';
COMMENT ON COLUMN items.category IS 'the item''s category in the catalogue (recommend(category => ...) filters on it; not a signal category)';
COMMENT ON COLUMN items.attributes IS 'anything else the application wants to keep with the item';
COMMENT ON COLUMN items.sponsored IS 'paid placement: recommend() caps such items at personalize.sponsored_share and marks them';
COMMENT ON COLUMN items.embedding IS 'an optional content embedding of the item';
COMMENT ON COLUMN items.created_at IS 'when the item was added';
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
COMMENT ON COLUMN interactions.interaction_id IS 'order of recording (names no one)';
COMMENT ON COLUMN interactions.subject_id IS 'the person who interacted';
COMMENT ON COLUMN interactions.item_id IS 'the item interacted with';
COMMENT ON COLUMN interactions.category IS 'the signal category of the row: which consent makes it visible';
COMMENT ON COLUMN interactions.kind IS 'view, click, cart, purchase... (training weight from interaction_kinds)';
COMMENT ON COLUMN interactions.weight IS 'the interaction''s own weight, multiplied by its kind''s';
COMMENT ON COLUMN interactions.occurred_at IS 'when it happened';

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
	IF kind !~ '^[a-z][a-z0-9_]{0,30}$' THEN
		RAISE EXCEPTION 'invalid interaction kind "%"', kind
			USING ERRCODE = 'invalid_name',
			      HINT = 'A kind is a lower-case letter followed by up to 30 lower-case letters, digits or underscores.';
	END IF;
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
	bad_kind text;
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
	SELECT k INTO bad_kind FROM unnest(kinds) k WHERE k !~ '^[a-z][a-z0-9_]{0,30}$' LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'invalid interaction kind "%"', bad_kind
			USING ERRCODE = 'invalid_name',
			      HINT = 'A kind is a lower-case letter followed by up to 30 lower-case letters, digits or underscores.';
	END IF;
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
SELECT pg_catalog.pg_extension_config_dump('interactions_interaction_id_seq', '');
