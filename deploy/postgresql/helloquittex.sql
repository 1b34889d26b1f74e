-- helloquittex's role and database on PostgreSQL, created by a superuser:
--
--   sudo -u postgres psql -v password='a long random password' -f helloquittex.sql
--
-- then HQX_DATABASE_URL=postgresql://helloquittex:PASSWORD@HOST/helloquittex and
-- `hqx db upgrade` (the helloquittex-migrate unit) creates the schema as that role, which
-- owns the database and everything in it. Nothing else may connect to it.
\set ON_ERROR_STOP on
CREATE ROLE helloquittex LOGIN PASSWORD :'password';
CREATE DATABASE helloquittex OWNER helloquittex ENCODING 'UTF8' TEMPLATE template0;
REVOKE ALL ON DATABASE helloquittex FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE helloquittex TO helloquittex;
