-- require_purpose() asks may_act_for(), which jobs ask about their owners.

-- A role may act under a purpose when it is a superuser or is a member of a
-- role the purpose, or a purpose it inherits from, was granted to.
CREATE FUNCTION may_act_for(role name, purpose text) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = may_act_for.role AND rolsuper)
	    OR EXISTS (SELECT 1 FROM @extschema@.purpose_grants g
	                WHERE g.purpose = ANY (@extschema@.purpose_chain(may_act_for.purpose))
	                  AND pg_has_role(may_act_for.role, g.role, 'USAGE'))
$$;
COMMENT ON FUNCTION may_act_for(name, text) IS 'whether a role may act under a purpose (a superuser, or a member of a role it was granted to)';
REVOKE ALL ON FUNCTION may_act_for(name, text) FROM PUBLIC;

-- The caller (SET ROLE counts) must hold a purpose to act under it.
CREATE OR REPLACE FUNCTION require_purpose(purpose text, action text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	caller name := @extschema@.acting_role();
BEGIN
	PERFORM @extschema@.check_purpose_exists(purpose);
	IF NOT @extschema@.may_act_for(caller, purpose) THEN
		RAISE EXCEPTION 'role "%" may not % for purpose "%"', caller, action, purpose
			USING ERRCODE = 'insufficient_privilege',
			      HINT = format('An administrator can allow it with SELECT personalize.grant_purpose(%L, %L).', caller, purpose);
	END IF;
END $$;
