-- Ledger helpers are not for PUBLIC.
REVOKE ALL ON FUNCTION refuse_ledger_change() FROM PUBLIC;
COMMENT ON FUNCTION refuse_ledger_change() IS 'trigger: the consent ledger is append-only';
REVOKE ALL ON FUNCTION refuse_null_tier() FROM PUBLIC;
COMMENT ON FUNCTION refuse_null_tier() IS 'set_consent() helper: a NULL tier is an error';
