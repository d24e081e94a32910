-- The bootstrap auditor is made once per deployment (SPEC principle 14): the step is recorded
-- and never removed, so disabling or demoting every compliance officer never re-opens it.
CREATE TRIGGER bootstrap_steps_no_update BEFORE UPDATE ON "bootstrap_steps"
  FOR EACH ROW EXECUTE FUNCTION tiergate_reject_change();
--> statement-breakpoint
CREATE TRIGGER bootstrap_steps_no_delete BEFORE DELETE ON "bootstrap_steps"
  FOR EACH ROW EXECUTE FUNCTION tiergate_reject_change();
--> statement-breakpoint
CREATE TRIGGER bootstrap_steps_no_truncate BEFORE TRUNCATE ON "bootstrap_steps"
  FOR EACH STATEMENT EXECUTE FUNCTION tiergate_reject_change();
--> statement-breakpoint
REVOKE UPDATE, DELETE, TRUNCATE ON "bootstrap_steps" FROM tiergate_app;
--> statement-breakpoint
-- A deployment that upgrades: the gateway's compliance officers of the default policy keep
-- deciding ('pre-existing'; docs/operations.md asks the program to review them), and if any
-- auditor or approval exists the bootstrap has been used already.
UPDATE "users" SET "approver_basis" = 'pre-existing'
  FROM "agencies" a
 WHERE a.id = "users"."agency_id" AND a.kind = 'gateway' AND "users"."role" = 'compliance_officer'
   AND "users"."kind" = 'person' AND "users"."approval" = 'approved';
--> statement-breakpoint
INSERT INTO "bootstrap_steps" ("step")
SELECT 'first-auditor'
 WHERE EXISTS (SELECT 1 FROM "users" u JOIN "agencies" a ON a.id = u.agency_id WHERE a.kind = 'gateway' AND u.role = 'compliance_officer')
    OR EXISTS (SELECT 1 FROM "approvals");
