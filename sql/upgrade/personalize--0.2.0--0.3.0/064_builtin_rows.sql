-- The built-in rows of signal_categories, purposes and interaction_kinds
-- are dumped too, and a restored one updates the row CREATE EXTENSION
-- wrote, so that what an administrator changed in them (a weight, a
-- retention, a narrower tier cap) survives a dump and restore; 0.2.0 left
-- them out of the dump and the changes were lost.  As in
-- sql/install/040_registry.sql and 090_models.sql.

-- A restore runs CREATE EXTENSION, which writes the built-in rows as this
-- version ships them, and then loads the dumped rows, built-in ones
-- included.  A restored built-in row updates the installed one instead of
-- colliding with it, in the columns an administrator may tune (the
-- trigger's arguments after the key column): a weight, a retention or a
-- narrower tier cap set before the dump is set again.  A built-in row this
-- version does not have is inserted as it was.
CREATE FUNCTION merge_restored_builtin() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	key text := TG_ARGV[0];
	merged bigint;
BEGIN
	IF NOT NEW.builtin THEN
		RETURN NEW;
	END IF;
	EXECUTE format('UPDATE %s t SET %s WHERE t.%I = ($1).%I AND t.builtin', TG_RELID::regclass,
	               (SELECT string_agg(format('%I = ($1).%I', c, c), ', ') FROM unnest(TG_ARGV[1:]) c),
	               key, key)
	USING NEW;
	GET DIAGNOSTICS merged = ROW_COUNT;
	RETURN CASE WHEN merged = 0 THEN NEW END;
END $$;
REVOKE ALL ON FUNCTION merge_restored_builtin() FROM PUBLIC;
COMMENT ON FUNCTION merge_restored_builtin() IS 'trigger: a restored built-in row updates the one CREATE EXTENSION wrote (in the columns named by the trigger''s arguments) instead of colliding with it';

CREATE TRIGGER merge_restored BEFORE INSERT ON signal_categories
	FOR EACH ROW EXECUTE FUNCTION merge_restored_builtin('name', 'tier', 'justification', 'retention');
CREATE TRIGGER merge_restored BEFORE INSERT ON purposes
	FOR EACH ROW EXECUTE FUNCTION merge_restored_builtin('name', 'description', 'max_tier', 'personal_data_allowed');
CREATE TRIGGER merge_restored BEFORE INSERT ON interaction_kinds
	FOR EACH ROW EXECUTE FUNCTION merge_restored_builtin('kind', 'weight');
SELECT pg_catalog.pg_extension_config_dump('signal_categories', '');
SELECT pg_catalog.pg_extension_config_dump('purposes', '');
SELECT pg_catalog.pg_extension_config_dump('interaction_kinds', '');
