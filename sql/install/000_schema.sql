-- Everything lives in schema personalize; what each object lets a role do is
-- governed by its own grants and, for personal data, by row-level security.
GRANT USAGE ON SCHEMA @extschema@ TO PUBLIC;
