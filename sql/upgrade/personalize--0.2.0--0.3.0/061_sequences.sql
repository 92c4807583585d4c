-- pg_dump dumps the state of an extension's sequence only when told to: the
-- identity sequences of the dumped tables were not, so a restored database
-- handed out ids that existed already (duplicate keys in set_consent(),
-- track(), train(), recommend() and feedback()).
SELECT pg_catalog.pg_extension_config_dump('consent_ledger_entry_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('interactions_interaction_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('models_model_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('impressions_impression_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('feedback_feedback_id_seq', '');
