-- Runs once, when the compose Postgres volume is first initialised (database `csms`).
-- One role and one schema per service (docs/ARCHITECTURE.md): a service owns its schema,
-- migrates it itself (`<service> migrate`) and cannot touch another's.
-- Development passwords only; see docs/deploy.md for production.
CREATE ROLE registry LOGIN PASSWORD 'registry';
CREATE SCHEMA registry AUTHORIZATION registry;

CREATE ROLE sessions LOGIN PASSWORD 'sessions';
CREATE SCHEMA sessions AUTHORIZATION sessions;

CREATE ROLE commands LOGIN PASSWORD 'commands';
CREATE SCHEMA commands AUTHORIZATION commands;

CREATE ROLE messages LOGIN PASSWORD 'messages';
CREATE SCHEMA messages AUTHORIZATION messages;

CREATE ROLE loads LOGIN PASSWORD 'loads';
CREATE SCHEMA loads AUTHORIZATION loads;

CREATE ROLE roaming LOGIN PASSWORD 'roaming';
CREATE SCHEMA roaming AUTHORIZATION roaming;

REVOKE CREATE ON SCHEMA public FROM PUBLIC;
REVOKE ALL ON DATABASE csms FROM PUBLIC;
-- CREATE on the database: each migration runs `CREATE SCHEMA IF NOT EXISTS <own schema>`,
-- which Postgres refuses without it even when the schema already exists.
GRANT CONNECT, CREATE ON DATABASE csms TO registry, sessions, commands, messages, loads, roaming;
