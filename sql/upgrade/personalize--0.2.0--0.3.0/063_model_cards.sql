-- model_cards becomes one narrow line per version: the card column (the
-- whole card as jsonb, unreadable in psql) goes, model_card(id) gives it on
-- demand, and the metrics are rounded.  A view cannot lose a column in
-- place, so it is dropped and created again, as sql/install/090_models.sql
-- defines it.
DROP VIEW model_cards;

-- One line per version, narrow enough for a terminal; the card itself is
-- on demand: SELECT jsonb_pretty(personalize.model_card(model_id)).
CREATE VIEW model_cards AS
SELECT m.model_id, m.algorithm, m.purpose, m.status, m.created_at,
       (m.data ->> 'subjects_included')::bigint AS subjects_included,
       (m.data -> 'subjects_left_out' ->> 'total')::bigint AS subjects_left_out,
       (m.metrics ->> 'k')::integer AS k,
       round((m.metrics ->> 'ndcg_at_k')::numeric, 4) AS ndcg_at_k,
       round((m.metrics ->> 'recall_at_k')::numeric, 4) AS recall_at_k,
       round((m.metrics ->> 'coverage')::numeric, 4) AS coverage,
       round((m.metrics ->> 'gini')::numeric, 4) AS gini,
       cardinality(m.warnings) AS warnings,
       m.status_reason
  FROM @extschema@.models m;
COMMENT ON VIEW model_cards IS 'one line per model version: status, data and held-out metrics; the full card is personalize.model_card(model_id)';
COMMENT ON COLUMN model_cards.model_id IS 'the version';
COMMENT ON COLUMN model_cards.algorithm IS 'als, itemknn or popularity';
COMMENT ON COLUMN model_cards.purpose IS 'the purpose it serves';
COMMENT ON COLUMN model_cards.status IS 'training, candidate, active, rejected or retired';
COMMENT ON COLUMN model_cards.created_at IS 'when training started';
COMMENT ON COLUMN model_cards.subjects_included IS 'subjects whose interactions it was trained on';
COMMENT ON COLUMN model_cards.subjects_left_out IS 'subjects left out for lack of consent (rounded down to a multiple of 10)';
COMMENT ON COLUMN model_cards.k IS 'the cutoff of the held-out metrics';
COMMENT ON COLUMN model_cards.ndcg_at_k IS 'held-out NDCG@k (activation compares it)';
COMMENT ON COLUMN model_cards.recall_at_k IS 'held-out recall@k';
COMMENT ON COLUMN model_cards.coverage IS 'share of the catalogue that appears in the held-out subjects'' top k';
COMMENT ON COLUMN model_cards.gini IS 'Gini coefficient of how often each catalogue item appears in those top-k lists (0: evenly)';
COMMENT ON COLUMN model_cards.warnings IS 'how many warnings the card carries (model_card(model_id) -> ''warnings'')';
COMMENT ON COLUMN model_cards.status_reason IS 'why it has its status';
