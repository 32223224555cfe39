-- The schema of a Ballast database belongs to the owner; the other roles may only use it (run as a
-- superuser in that database). The tables' grants come from `manage.py migrate` (tenants/db_roles.py).
ALTER SCHEMA public OWNER TO ballast_owner;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO ballast_app, ballast_system;
