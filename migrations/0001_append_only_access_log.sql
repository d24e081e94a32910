-- The access log is append-only for everyone, the schema owner included: a trigger rejects
-- UPDATE, DELETE and TRUNCATE. Consents keep their history: they may be revoked, never deleted.
CREATE OR REPLACE FUNCTION tiergate_reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% on % is not allowed: the table is append-only', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege';
END;
$$;
--> statement-breakpoint
CREATE TRIGGER access_log_no_update_delete BEFORE UPDATE OR DELETE ON "access_log"
  FOR EACH ROW EXECUTE FUNCTION tiergate_reject_change();
--> statement-breakpoint
CREATE TRIGGER access_log_no_truncate BEFORE TRUNCATE ON "access_log"
  FOR EACH STATEMENT EXECUTE FUNCTION tiergate_reject_change();
--> statement-breakpoint
CREATE TRIGGER consents_no_delete BEFORE DELETE ON "consents"
  FOR EACH ROW EXECUTE FUNCTION tiergate_reject_change();
--> statement-breakpoint
-- The gateway serves requests as a member of tiergate_app, a role that owns nothing and holds
-- no UPDATE, DELETE or TRUNCATE on the log. Concurrent migrations of other databases on the
-- same server may race to create the cluster-wide role, hence the exception handler.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tiergate_app') THEN
    CREATE ROLE tiergate_app NOLOGIN;
  END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END;
$$;
--> statement-breakpoint
GRANT USAGE ON SCHEMA public TO tiergate_app;
--> statement-breakpoint
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO tiergate_app;
--> statement-breakpoint
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO tiergate_app;
--> statement-breakpoint
REVOKE UPDATE, DELETE, TRUNCATE ON "access_log" FROM tiergate_app;
--> statement-breakpoint
REVOKE DELETE, TRUNCATE ON "consents" FROM tiergate_app;
