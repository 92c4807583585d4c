
-- models may be EASE models; the old check is replaced, not widened in place
ALTER TABLE models DROP CONSTRAINT models_algorithm_check;
ALTER TABLE models ADD CONSTRAINT models_algorithm_check
	CHECK (algorithm IN ('als', 'ease', 'itemknn', 'popularity', 'rp3beta'));
COMMENT ON COLUMN models.algorithm IS 'als, ease, itemknn, rp3beta or popularity';
COMMENT ON COLUMN model_cards.algorithm IS 'als, ease, itemknn, rp3beta or popularity';
COMMENT ON COLUMN training_progress.algorithm IS 'als, ease, itemknn, rp3beta or popularity';
COMMENT ON FUNCTION train(text, text, integer, integer, real, real, integer, text, interval, boolean, real, integer, bigint, text, jsonb, float8, float8) IS
	'train a model (als, ease, itemknn, rp3beta, popularity) on consented data only, evaluate it on held-out data, record it, and activate it if it is not worse than the active one; with dp_epsilon, with differential privacy, paid from the purpose''s privacy budget';
COMMENT ON TABLE model_neighbors IS 'the neighbours of each item in item-kNN, RP3beta and EASE models';
COMMENT ON COLUMN model_neighbors.score IS 'what the item adds to the neighbour''s score: a similarity (item-kNN), a walk probability (RP3beta) or a weight, possibly negative (EASE)';

-- ALS models weighted log_idf store each item's idf factor, which fold-in applies
ALTER TABLE model_item_factors ADD COLUMN idf real;
COMMENT ON COLUMN model_item_factors.idf IS 'weighting log_idf: the factor fold-in multiplies the item''s ln(1 + value) by (its idf over the mean); NULL for the other weightings';
