-- A decision that two records are different people is evidence: append-only.
CREATE TRIGGER not_duplicate_decisions_append_only BEFORE UPDATE OR DELETE ON "not_duplicate_decisions"
  FOR EACH ROW EXECUTE FUNCTION tiergate_reject_change();
--> statement-breakpoint
CREATE TRIGGER not_duplicate_decisions_no_truncate BEFORE TRUNCATE ON "not_duplicate_decisions"
  FOR EACH STATEMENT EXECUTE FUNCTION tiergate_reject_change();
--> statement-breakpoint
-- The default privileges of 0003 give the gateway role SELECT, INSERT, UPDATE, DELETE on new
-- tables; an identifier is added, never changed or removed by the gateway, and a decision stays.
GRANT SELECT, INSERT ON "not_duplicate_decisions", "subject_identifiers" TO tiergate_app;
--> statement-breakpoint
REVOKE UPDATE, DELETE, TRUNCATE ON "not_duplicate_decisions", "subject_identifiers" FROM tiergate_app;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION tiergate_name_key(text) TO tiergate_app;
