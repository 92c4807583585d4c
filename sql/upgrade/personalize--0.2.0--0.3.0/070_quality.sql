-- Recommendation quality (issue 12): models.algorithm admits 'rp3beta'.  The
-- constraint keeps the name PostgreSQL gave the inline CHECK, so a database
-- updated from 0.2.0 matches a fresh install.
ALTER TABLE models DROP CONSTRAINT models_algorithm_check;
ALTER TABLE models ADD CONSTRAINT models_algorithm_check
	CHECK (algorithm IN ('als', 'itemknn', 'popularity', 'rp3beta'));
