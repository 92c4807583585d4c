-- Comments on every function, operator, cast, operator class and family,
-- event trigger, table and column that 0.2.0 left without one, and the
-- comments 0.3.0 rewords: the same statements as next to each object in
-- sql/install/ (test catalog_comments lists anything left uncommented).
-- The model_cards view is recreated, with its comments, in 063_model_cards.sql.

-- 010_embedding.sql
COMMENT ON FUNCTION embedding_in(cstring, oid, integer) IS 'input function of type embedding: text such as [1,2,3]';
COMMENT ON FUNCTION embedding_out(embedding) IS 'output function of type embedding: text such as [1,2,3]';
COMMENT ON FUNCTION embedding_typmod_in(cstring[]) IS 'type modifier of embedding(n): the number of dimensions';
COMMENT ON FUNCTION embedding_recv(internal, oid, integer) IS 'binary input of type embedding (pgvector''s vector_send format)';
COMMENT ON FUNCTION embedding_send(embedding) IS 'binary output of type embedding: int16 dims, int16 0, big-endian float4s';
COMMENT ON FUNCTION embedding_add(embedding, embedding) IS 'element-wise sum (the + operator)';
COMMENT ON FUNCTION embedding_sub(embedding, embedding) IS 'element-wise difference (the - operator)';
COMMENT ON FUNCTION embedding_mul(embedding, embedding) IS 'element-wise product (the * operator)';
COMMENT ON FUNCTION embedding_concat(embedding, embedding) IS 'the elements of the first, then of the second (the || operator)';
COMMENT ON FUNCTION embedding_lt(embedding, embedding) IS 'less than, in the B-tree order of embedding_cmp() (the < operator)';
COMMENT ON FUNCTION embedding_le(embedding, embedding) IS 'less than or equal, in the B-tree order of embedding_cmp() (the <= operator)';
COMMENT ON FUNCTION embedding_eq(embedding, embedding) IS 'same dimensions and elements (the = operator)';
COMMENT ON FUNCTION embedding_ne(embedding, embedding) IS 'not equal (the <> operator)';
COMMENT ON FUNCTION embedding_ge(embedding, embedding) IS 'greater than or equal, in the B-tree order of embedding_cmp() (the >= operator)';
COMMENT ON FUNCTION embedding_gt(embedding, embedding) IS 'greater than, in the B-tree order of embedding_cmp() (the > operator)';
COMMENT ON FUNCTION embedding_cmp(embedding, embedding) IS 'B-tree comparison: element by element, then the shorter first (-1, 0 or 1)';
COMMENT ON FUNCTION embedding_accum(double precision[], embedding) IS 'avg(embedding) state function: adds a vector to the running count and sums';
COMMENT ON FUNCTION embedding_combine(double precision[], double precision[]) IS 'avg(embedding) combine function: merges two partial states (parallel aggregation)';
COMMENT ON FUNCTION embedding_avg(double precision[]) IS 'avg(embedding) final function: sums divided by the count';
COMMENT ON AGGREGATE avg(embedding) IS 'element-wise mean of embeddings of equal dimensions (NULLs skipped)';
COMMENT ON AGGREGATE sum(embedding) IS 'element-wise sum of embeddings of equal dimensions (NULLs skipped)';
COMMENT ON FUNCTION embedding(embedding, integer, boolean) IS 'cast to embedding(n): checks the dimensions against the type modifier';
COMMENT ON FUNCTION array_to_embedding(integer[], integer, boolean) IS 'cast from integer[] (one-dimensional, no NULLs)';
COMMENT ON FUNCTION array_to_embedding(real[], integer, boolean) IS 'cast from real[] (one-dimensional, no NULLs)';
COMMENT ON FUNCTION array_to_embedding(double precision[], integer, boolean) IS 'cast from double precision[] (one-dimensional, no NULLs; values must fit in float4)';
COMMENT ON FUNCTION array_to_embedding(numeric[], integer, boolean) IS 'cast from numeric[] (one-dimensional, no NULLs; values must fit in float4)';
COMMENT ON FUNCTION embedding_to_float4(embedding, integer, boolean) IS 'cast to real[]';
COMMENT ON FUNCTION embedding_to_float8(embedding, integer, boolean) IS 'cast to double precision[]';
COMMENT ON FUNCTION embedding_to_int4(embedding, integer, boolean) IS 'cast to integer[] (elements rounded)';
COMMENT ON FUNCTION embedding_to_numeric(embedding, integer, boolean) IS 'cast to numeric[]';
COMMENT ON CAST (embedding AS embedding) IS 'applies a type modifier: embedding(n) holds exactly n dimensions';
COMMENT ON CAST (embedding AS real[]) IS 'the elements as a real[] (implicit)';
COMMENT ON CAST (embedding AS double precision[]) IS 'the elements as a double precision[] (in assignments)';
COMMENT ON CAST (embedding AS integer[]) IS 'the elements rounded to integers (explicit only)';
COMMENT ON CAST (embedding AS numeric[]) IS 'the elements as a numeric[] (in assignments)';
COMMENT ON CAST (integer[] AS embedding) IS 'an integer array as an embedding (in assignments)';
COMMENT ON CAST (real[] AS embedding) IS 'a real array as an embedding (in assignments)';
COMMENT ON CAST (double precision[] AS embedding) IS 'a double precision array as an embedding (in assignments; values must fit in float4)';
COMMENT ON CAST (numeric[] AS embedding) IS 'a numeric array as an embedding (in assignments; values must fit in float4)';
COMMENT ON OPERATOR <->(embedding, embedding) IS 'Euclidean distance (l2_distance)';
COMMENT ON OPERATOR <#>(embedding, embedding) IS 'negative inner product, so that ascending order is most similar first (negative_inner_product)';
COMMENT ON OPERATOR <=>(embedding, embedding) IS 'cosine distance (cosine_distance)';
COMMENT ON OPERATOR <+>(embedding, embedding) IS 'taxicab distance (l1_distance)';
COMMENT ON OPERATOR +(embedding, embedding) IS 'element-wise sum';
COMMENT ON OPERATOR -(embedding, embedding) IS 'element-wise difference';
COMMENT ON OPERATOR *(embedding, embedding) IS 'element-wise product';
COMMENT ON OPERATOR ||(embedding, embedding) IS 'concatenation';
COMMENT ON OPERATOR <(embedding, embedding) IS 'less than (B-tree order: element by element, then the shorter first)';
COMMENT ON OPERATOR <=(embedding, embedding) IS 'less than or equal (B-tree order)';
COMMENT ON OPERATOR =(embedding, embedding) IS 'equal: same dimensions and elements';
COMMENT ON OPERATOR <>(embedding, embedding) IS 'not equal';
COMMENT ON OPERATOR >=(embedding, embedding) IS 'greater than or equal (B-tree order)';
COMMENT ON OPERATOR >(embedding, embedding) IS 'greater than (B-tree order)';
COMMENT ON OPERATOR CLASS embedding_ops USING btree IS 'B-tree order of embeddings: for ORDER BY, DISTINCT, unique and B-tree indexes (not for nearest-neighbour search)';
COMMENT ON OPERATOR FAMILY embedding_ops USING btree IS 'B-tree order of embeddings (the family of operator class embedding_ops)';

-- 020_embedding8.sql
COMMENT ON FUNCTION embedding8_in(cstring, oid, integer) IS 'input function of type embedding8: text such as [1,2,3], quantized';
COMMENT ON FUNCTION embedding8_out(embedding8) IS 'output function of type embedding8: the dequantized elements, e.g. [1,2,3]';
COMMENT ON FUNCTION embedding8_typmod_in(cstring[]) IS 'type modifier of embedding8(n): the number of dimensions';
COMMENT ON FUNCTION embedding8_recv(internal, oid, integer) IS 'binary input of type embedding8 (the embedding8_send format)';
COMMENT ON FUNCTION embedding8_send(embedding8) IS 'binary output of type embedding8: int16 dims, int16 0, float4 scale, one int8 per element';
COMMENT ON FUNCTION l2_distance(embedding8, embedding8) IS 'Euclidean distance of the dequantized vectors';
COMMENT ON FUNCTION inner_product(embedding8, embedding8) IS 'inner product of the dequantized vectors';
COMMENT ON FUNCTION negative_inner_product(embedding8, embedding8) IS 'negative inner product of the dequantized vectors (the <#> operator)';
COMMENT ON FUNCTION cosine_distance(embedding8, embedding8) IS 'cosine distance of the dequantized vectors, 1 - cos(a, b)';
COMMENT ON FUNCTION l1_distance(embedding8, embedding8) IS 'taxicab distance of the dequantized vectors';
COMMENT ON FUNCTION dims(embedding8) IS 'number of dimensions';
COMMENT ON FUNCTION norm(embedding8) IS 'Euclidean norm of the dequantized vector';
COMMENT ON FUNCTION embedding8(embedding8, integer, boolean) IS 'cast to embedding8(n): checks the dimensions against the type modifier';
COMMENT ON FUNCTION embedding8(embedding, integer, boolean) IS 'quantize an embedding: one scale per vector, each element rounded to an int8 in [-127, 127]';
COMMENT ON FUNCTION embedding(embedding8, integer, boolean) IS 'dequantize an embedding8 into an embedding';
COMMENT ON CAST (embedding8 AS embedding8) IS 'applies a type modifier: embedding8(n) holds exactly n dimensions';
COMMENT ON CAST (embedding AS embedding8) IS 'quantizes (in assignments): storing into an embedding8 column loses at most max|x|/254 per element';
COMMENT ON CAST (embedding8 AS embedding) IS 'dequantizes (implicit), so every embedding function accepts an embedding8';
COMMENT ON OPERATOR <->(embedding8, embedding8) IS 'Euclidean distance (l2_distance)';
COMMENT ON OPERATOR <#>(embedding8, embedding8) IS 'negative inner product, so that ascending order is most similar first (negative_inner_product)';
COMMENT ON OPERATOR <=>(embedding8, embedding8) IS 'cosine distance (cosine_distance)';
COMMENT ON OPERATOR <+>(embedding8, embedding8) IS 'taxicab distance (l1_distance)';

-- 030_consent.sql
COMMENT ON FUNCTION consent_in(cstring) IS 'input function of type consent: text such as personalization+location-purchase_history (syntax only: categories are checked where a consent is made or recorded)';
COMMENT ON FUNCTION consent_out(consent) IS 'output function of type consent: the canonical text (lists sorted, duplicates dropped)';
COMMENT ON FUNCTION consent_recv(internal) IS 'binary input of type consent: the canonical text, NUL-terminated';
COMMENT ON FUNCTION consent_send(consent) IS 'binary output of type consent: the canonical text, NUL-terminated';
COMMENT ON FUNCTION consent_make(text, text[], text[]) IS 'make_consent() without defaults: tier name, granted and denied categories (each must be registered)';
COMMENT ON FUNCTION make_consent(consent_tier, text[], text[]) IS 'build a consent; a category both granted and denied is denied; every category must be registered';
COMMENT ON FUNCTION consent_tier_name(consent) IS 'the tier of a consent as text (tier() returns it as a consent_tier)';
COMMENT ON FUNCTION consent_grant(consent, text) IS 'the consent with a registered category granted explicitly (lifts a denial; the + operator)';
COMMENT ON FUNCTION consent_revoke(consent, text) IS 'the consent with a registered category denied explicitly (lifts a grant; the - operator)';
COMMENT ON FUNCTION consent_eq(consent, consent) IS 'same tier, grants and denials (the = operator)';
COMMENT ON OPERATOR +(consent, text) IS 'grant a registered category explicitly: ''functional''::consent + ''location''';
COMMENT ON OPERATOR -(consent, text) IS 'deny a registered category explicitly: ''enhanced''::consent - ''location''';
COMMENT ON OPERATOR =(consent, consent) IS 'same tier, grants and denials';

-- 040_registry.sql
COMMENT ON COLUMN signal_categories.name IS 'lower-case name, as consents and interactions.category spell it';
COMMENT ON COLUMN signal_categories.tier IS '1 functional, 2 personalization, 3 enhanced: the lowest consent tier that allows the category (tier 3 also needs an explicit grant)';
COMMENT ON COLUMN signal_categories.justification IS 'why the category is needed, shown on model cards; NULL: never used for training';
COMMENT ON COLUMN signal_categories.retention IS 'how long interactions of the category are kept (the retention job deletes older ones); NULL: no limit';
COMMENT ON COLUMN signal_categories.builtin IS 'installed by the extension; a restore keeps what was changed in its tier, justification and retention';
COMMENT ON COLUMN purposes.builtin IS 'installed by the extension; a restore keeps what was changed in its description, tier cap and personal-data use';

-- 050_ledger.sql
COMMENT ON COLUMN consent_ledger.entry_id IS 'order of recording';
COMMENT ON COLUMN consent_ledger.subject_id IS 'the person the consent is about';
COMMENT ON COLUMN consent_ledger.purpose IS 'the purpose consented to';
COMMENT ON COLUMN consent_ledger.action IS 'set (set_consent()) or withdraw (withdraw_consent())';
COMMENT ON COLUMN consent_ledger.consent IS 'the consent recorded (none for a withdrawal)';
COMMENT ON COLUMN consent_ledger.source IS 'where the person gave it (banner, settings page, support...), as the caller said';
COMMENT ON COLUMN consent_ledger.notice_version IS 'the version of the notice the person was shown';
COMMENT ON COLUMN consent_ledger.recorded_by IS 'the role that recorded it (SET ROLE counts)';
COMMENT ON COLUMN consent_ledger.recorded_at IS 'when it was recorded (clock time, so entries of one transaction are ordered)';
COMMENT ON COLUMN consents.subject_id IS 'the person';
COMMENT ON COLUMN consents.purpose IS 'the purpose';
COMMENT ON COLUMN consents.consent IS 'the consent in force';
COMMENT ON COLUMN consents.updated_at IS 'when it was last recorded';
COMMENT ON FUNCTION check_categories(text[]) IS 'an error unless every name is a registered signal category';
COMMENT ON FUNCTION check_purpose_exists(text) IS 'an error unless the purpose is registered (NULL and malformed names have errors of their own)';
COMMENT ON FUNCTION record_consent(bigint, text, text, consent, text, text) IS 'set_consent() and withdraw_consent(): append to the ledger and replace the current consent, after checking the purpose and categories';
COMMENT ON FUNCTION consent_of(bigint, text) IS 'a subject''s current consent for a purpose (NULL when none was ever recorded; the purpose must exist)';

-- 060_data.sql
COMMENT ON COLUMN items.item_id IS 'the application''s id of the item';
COMMENT ON COLUMN items.category IS 'the item''s category in the catalogue (recommend(category => ...) filters on it; not a signal category)';
COMMENT ON COLUMN items.attributes IS 'anything else the application wants to keep with the item';
COMMENT ON COLUMN items.sponsored IS 'paid placement: recommend() caps such items at personalize.sponsored_share and marks them';
COMMENT ON COLUMN items.embedding IS 'an optional content embedding of the item';
COMMENT ON COLUMN items.created_at IS 'when the item was added';
COMMENT ON COLUMN interactions.interaction_id IS 'order of recording (names no one)';
COMMENT ON COLUMN interactions.subject_id IS 'the person who interacted';
COMMENT ON COLUMN interactions.item_id IS 'the item interacted with';
COMMENT ON COLUMN interactions.category IS 'the signal category of the row: which consent makes it visible';
COMMENT ON COLUMN interactions.kind IS 'view, click, cart, purchase... (training weight from interaction_kinds)';
COMMENT ON COLUMN interactions.weight IS 'the interaction''s own weight, multiplied by its kind''s';
COMMENT ON COLUMN interactions.occurred_at IS 'when it happened';

-- 070_policies.sql
COMMENT ON EVENT TRIGGER personalize_protect_descendants IS 'a partition or inheritance child of a protected table is protected in the command that creates or attaches it';
COMMENT ON EVENT TRIGGER personalize_forget_dropped IS 'a dropped table leaves personalize.protected_tables (so its OID cannot name another table later)';

-- 080_audit.sql
COMMENT ON COLUMN consent_coverage.purpose IS 'the purpose consented to';
COMMENT ON COLUMN consent_coverage.tier IS 'the tier of the consents counted';
COMMENT ON COLUMN consent_coverage.category IS 'a signal category';
COMMENT ON COLUMN consent_coverage.category_tier IS 'the tier of the category (1 functional, 2 personalization, 3 enhanced)';
COMMENT ON COLUMN consent_coverage.subjects_allowed IS 'subjects whose consent allows the category under the purpose (within the purpose''s tier cap)';
COMMENT ON COLUMN consent_coverage.subjects_with_consent IS 'subjects with a consent of this tier for the purpose';
COMMENT ON COLUMN consent_history.entry_id IS 'order of recording';
COMMENT ON COLUMN consent_history.subject_id IS 'the person the consent is about';
COMMENT ON COLUMN consent_history.purpose IS 'the purpose consented to';
COMMENT ON COLUMN consent_history.action IS 'set or withdraw';
COMMENT ON COLUMN consent_history.consent IS 'the consent recorded';
COMMENT ON COLUMN consent_history.tier IS 'its tier';
COMMENT ON COLUMN consent_history.source IS 'where the person gave it, as the caller said';
COMMENT ON COLUMN consent_history.notice_version IS 'the version of the notice the person was shown';
COMMENT ON COLUMN consent_history.recorded_by IS 'the role that recorded it';
COMMENT ON COLUMN consent_history.recorded_at IS 'when';
COMMENT ON COLUMN purpose_access.role IS 'the grantee (its members with INHERIT hold the purpose too)';
COMMENT ON COLUMN purpose_access.purpose IS 'the purpose granted';
COMMENT ON COLUMN purpose_access.max_tier IS 'the purpose''s tier cap';
COMMENT ON COLUMN purpose_access.personal_data_allowed IS 'whether the purpose may read personal data at all';
COMMENT ON COLUMN purpose_access.granted_by IS 'the role that called grant_purpose()';
COMMENT ON COLUMN purpose_access.granted_at IS 'when';
COMMENT ON COLUMN purpose_access.member_of IS 'the roles the grantee is a member of';

-- 085_metrics.sql
COMMENT ON FUNCTION gini_accum(internal, double precision) IS 'gini() state function: keeps each value (NULLs skipped; negative, NaN and infinite values are errors)';
COMMENT ON FUNCTION gini_combine(internal, internal) IS 'gini() combine function: concatenates the values of two partial states';
COMMENT ON FUNCTION gini_serialize(internal) IS 'gini() serial function: a partial state as bytes, for parallel workers';
COMMENT ON FUNCTION gini_deserialize(bytea, internal) IS 'gini() deserial function: a partial state from bytes';
COMMENT ON FUNCTION gini_final(internal) IS 'gini() final function: sorts the values and computes the coefficient';

-- 090_models.sql
COMMENT ON COLUMN interaction_kinds.kind IS 'the kind, as interactions.kind spells it';
COMMENT ON COLUMN interaction_kinds.weight IS 'training weight (a kind not listed weighs 1)';
COMMENT ON COLUMN interaction_kinds.builtin IS 'installed by the extension; a restore keeps a changed weight';
COMMENT ON COLUMN models.model_id IS 'the version number, in order of training';
COMMENT ON COLUMN models.algorithm IS 'als, itemknn or popularity';
COMMENT ON COLUMN models.purpose IS 'the purpose it was trained under and serves';
COMMENT ON COLUMN models.status IS 'training, candidate, active (at most one per purpose), rejected or retired';
COMMENT ON COLUMN models.params IS 'the parameters used, defaults included (what train() was asked for while training)';
COMMENT ON COLUMN models.data IS 'data snapshot: rows, subjects and items used, time range, categories used and skipped, subjects left out';
COMMENT ON COLUMN models.metrics IS 'held-out metrics at k: precision, recall, NDCG, MAP, coverage, Gini of exposure';
COMMENT ON COLUMN models.privacy IS 'privacy figures, when the training method has any';
COMMENT ON COLUMN models.warnings IS 'what the model card warns about (unjustified categories skipped, unknown kinds...)';
COMMENT ON COLUMN models.trained_by IS 'the role that trained it (a job''s owner for a retrained model)';
COMMENT ON COLUMN models.created_at IS 'when training started';
COMMENT ON COLUMN models.training_ms IS 'how long training took';
COMMENT ON COLUMN models.activated_at IS 'when it last became active';
COMMENT ON COLUMN models.retired_at IS 'when another model replaced it';
COMMENT ON COLUMN models.status_reason IS 'why it has its status (rejected against the active model, replaced by model n, parameters pruned)';
COMMENT ON TABLE model_item_factors IS 'item factors of ALS models (no subject factors are stored: they are folded in at request time)';
COMMENT ON COLUMN model_item_factors.model_id IS 'the model';
COMMENT ON COLUMN model_item_factors.item_id IS 'the item';
COMMENT ON COLUMN model_item_factors.factors IS 'the item''s latent factors';
COMMENT ON TABLE model_neighbors IS 'nearest neighbours of each item in item-kNN models';
COMMENT ON COLUMN model_neighbors.model_id IS 'the model';
COMMENT ON COLUMN model_neighbors.item_id IS 'the item';
COMMENT ON COLUMN model_neighbors.neighbor_id IS 'a similar item';
COMMENT ON COLUMN model_neighbors.score IS 'their similarity (BM25-weighted or cosine)';
COMMENT ON TABLE model_popularity IS 'item scores of popularity models (also the fallback of the others for subjects without history)';
COMMENT ON COLUMN model_popularity.model_id IS 'the model';
COMMENT ON COLUMN model_popularity.item_id IS 'the item';
COMMENT ON COLUMN model_popularity.category IS 'the item''s catalogue category when trained';
COMMENT ON COLUMN model_popularity.score IS 'summed interaction weights (time-decayed by half_life in popularity models)';
COMMENT ON FUNCTION train_model(text, text, jsonb, name) IS 'train(), retrain jobs: fit, evaluate, store and gate a model from parameters in jsonb, on behalf of a role (no purpose check)';
COMMENT ON FUNCTION require_purpose(text, text) IS 'an error unless the acting role (SET ROLE counts) may act under the purpose; the action names what was refused';
COMMENT ON FUNCTION model_card(bigint) IS 'the model card of a model version, as jsonb (jsonb_pretty() prints it readably)';

-- 100_serving.sql
COMMENT ON COLUMN impressions.impression_id IS 'order of recording';
COMMENT ON COLUMN impressions.shown_at IS 'when recommend() returned it';
COMMENT ON COLUMN impressions.subject_id IS 'to whom (NULL when the subject has no consent for the purpose)';
COMMENT ON COLUMN impressions.purpose IS 'the purpose recommend() was called under';
COMMENT ON COLUMN impressions.model_id IS 'the model version that ranked it';
COMMENT ON COLUMN impressions.item_id IS 'the item shown';
COMMENT ON COLUMN impressions.rank IS 'its position in the list, from 1';
COMMENT ON COLUMN impressions.score IS 'its score';
COMMENT ON COLUMN impressions.explored IS 'shown to explore, not for its score';
COMMENT ON COLUMN impressions.sponsored IS 'a sponsored item (disclosed in the reason)';
COMMENT ON COLUMN feedback.feedback_id IS 'order of recording';
COMMENT ON COLUMN feedback.recorded_at IS 'when feedback() recorded it';
COMMENT ON COLUMN feedback.subject_id IS 'who (NULL without a consent of tier functional or above for the purpose)';
COMMENT ON COLUMN feedback.purpose IS 'the purpose the item was recommended under';
COMMENT ON COLUMN feedback.item_id IS 'the item';
COMMENT ON COLUMN feedback.kind IS 'click, conversion... as the caller said';
COMMENT ON COLUMN feedback.reward IS 'the outcome, from 0 to 1';
COMMENT ON FUNCTION bandit_reward(text, bigint, real) IS 'feedback() helper: add a reward to the item''s exploration counter in the shared snapshot of the purpose (or its nearest served ancestor)';
