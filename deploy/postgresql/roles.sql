-- castmeter on PostgreSQL: one database, a writer role for the collectors (it owns the schema
-- and runs the migrations) and a read-only role for the dashboard. See deploy/README.md.
--
-- Run as a superuser; idempotent (run it again after changing a password):
--   psql -v ON_ERROR_STOP=1 -v collector_password='…' -v dashboard_password='…' -f roles.sql
-- Optional: -v db=castmeter -v collector_role=castmeter_collector -v dashboard_role=castmeter_dashboard
-- Without a password a role can only sign in by peer/certificate authentication (pg_hba.conf).
\set ON_ERROR_STOP on
\if :{?db}
\else
  \set db castmeter
\endif
\if :{?collector_role}
\else
  \set collector_role castmeter_collector
\endif
\if :{?dashboard_role}
\else
  \set dashboard_role castmeter_dashboard
\endif

-- The roles (LOGIN, nothing else: no superuser, no CREATEDB, no CREATEROLE).
SELECT format('CREATE ROLE %I LOGIN', :'collector_role')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'collector_role') \gexec
SELECT format('CREATE ROLE %I LOGIN', :'dashboard_role')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'dashboard_role') \gexec
\if :{?collector_password}
  ALTER ROLE :"collector_role" PASSWORD :'collector_password';
\endif
\if :{?dashboard_password}
  ALTER ROLE :"dashboard_role" PASSWORD :'dashboard_password';
\endif
-- Defence in depth for the reader: every transaction read-only, no query runs away.
ALTER ROLE :"dashboard_role" SET default_transaction_read_only = on;
ALTER ROLE :"dashboard_role" SET statement_timeout = '60s';

-- The database, owned by the writer; nobody else may connect but the dashboard.
SELECT format('CREATE DATABASE %I OWNER %I ENCODING %L', :'db', :'collector_role', 'UTF8')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \gexec
ALTER DATABASE :"db" OWNER TO :"collector_role";
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"db" TO :"collector_role";
GRANT CONNECT ON DATABASE :"db" TO :"dashboard_role";

\connect :"db"
-- castmeter's tables live in the public schema: the writer owns it (migrations create and
-- alter tables), the reader may only look, and nobody else may create anything there.
ALTER SCHEMA public OWNER TO :"collector_role";
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO :"dashboard_role";
-- Tables that exist already (a re-run after the first migration) and every table a later
-- migration creates (it runs as the writer) are readable by the dashboard, nothing more.
GRANT SELECT ON ALL TABLES IN SCHEMA public TO :"dashboard_role";
ALTER DEFAULT PRIVILEGES FOR ROLE :"collector_role" IN SCHEMA public GRANT SELECT ON TABLES TO :"dashboard_role";
