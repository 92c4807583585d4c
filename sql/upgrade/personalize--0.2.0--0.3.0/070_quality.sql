-- Recommendation quality (issue 12): models.algorithm admits 'rp3beta'.  The
-- constraint keeps the name PostgreSQL gave the inline CHECK, so a database
-- updated from 0.2.0 matches a fresh install.
ALTER TABLE models DROP CONSTRAINT models_algorithm_check;
ALTER TABLE models ADD CONSTRAINT models_algorithm_check
	CHECK (algorithm IN ('als', 'itemknn', 'popularity', 'rp3beta'));

COMMENT ON FUNCTION train(text, text, integer, integer, real, real, integer, text, interval, boolean, real, integer, bigint, text, jsonb) IS
	'train a model (als, itemknn, rp3beta, popularity) on consented data only, evaluate it on held-out data, record it, and activate it if it is not worse than the active one';
