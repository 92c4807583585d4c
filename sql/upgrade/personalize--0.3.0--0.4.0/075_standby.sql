-- Serving on hot standbys.  recommend() keeps one snapshot of the active
-- model and the catalogue per database, and learns on the primary that
-- items or models changed from counters in shared memory, bumped when such
-- a transaction commits.  A standby replays those commits without running
-- the triggers that bump them, so it reads these counters instead: the
-- same triggers also add 1 to one row here, in the transaction that changed
-- the table, so the row commits (and replays) with the change.  Sixteen
-- rows, one picked by the writing backend, so that concurrent writers of
-- items rarely wait for one another; readers add them up.

CREATE TABLE serving_versions (
	slot      integer PRIMARY KEY CHECK (slot BETWEEN 0 AND 15),
	catalogue bigint NOT NULL DEFAULT 0 CHECK (catalogue >= 0),
	models    bigint NOT NULL DEFAULT 0 CHECK (models >= 0)
);
COMMENT ON TABLE serving_versions IS 'change counters of items and models, summed by recommend() on a hot standby to know when its snapshot is stale (written by the serving_changed triggers on the primary)';
COMMENT ON COLUMN serving_versions.slot IS 'one of 16 rows; a backend bumps the row of its backend id modulo 16';
COMMENT ON COLUMN serving_versions.catalogue IS 'transactions (and subtransactions) that changed personalize.items through this row';
COMMENT ON COLUMN serving_versions.models IS 'transactions (and subtransactions) that changed personalize.models through this row';
INSERT INTO serving_versions (slot) SELECT s FROM generate_series(0, 15) s;
SELECT seal_registry_table('serving_versions', true);
-- Counters of one server's history: a restored database starts from zero
-- (CREATE EXTENSION writes the rows), so no row is dumped.
SELECT pg_catalog.pg_extension_config_dump('serving_versions', 'WHERE false');
