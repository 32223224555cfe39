-- Ballast's three login roles, on a cluster (run as a superuser, in any database). Idempotent; used by
-- scripts/services.sh and by the private test clusters (config/tests/pg_servers.py).
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'ballast_owner') THEN
    CREATE ROLE ballast_owner LOGIN PASSWORD 'ballast_owner' CREATEDB;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'ballast_app') THEN
    CREATE ROLE ballast_app LOGIN PASSWORD 'ballast_app';
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'ballast_system') THEN
    CREATE ROLE ballast_system LOGIN PASSWORD 'ballast_system';
  END IF;
END
$$;
-- Re-assert the attributes every run, so a hand-edited role is put right.
ALTER ROLE ballast_owner NOSUPERUSER CREATEDB NOCREATEROLE NOBYPASSRLS;
ALTER ROLE ballast_app NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
ALTER ROLE ballast_system NOSUPERUSER NOCREATEDB NOCREATEROLE BYPASSRLS;
