-- The gateway role's rights on the identity tables of 0002, and by default on tables that later
-- migrations create (the access log's revocations in 0001 stay in force).
GRANT SELECT, INSERT, UPDATE, DELETE ON "client_assertions", "clients", "login_throttle", "recovery_codes" TO tiergate_app;
--> statement-breakpoint
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO tiergate_app;
--> statement-breakpoint
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO tiergate_app;
