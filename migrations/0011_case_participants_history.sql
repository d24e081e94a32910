-- Participation in a case is history, like membership (0008): a row records that an agency
-- brought its records into a case, and is never changed, deleted or truncated, for every role.
-- Cases opened before participation existed were brought in by their opener's agency.
INSERT INTO "case_participants" ("case_id", "agency_id", "joined_by", "joined_at")
  SELECT "id", "agency_id", "opened_by", "created_at" FROM "cases";
--> statement-breakpoint
CREATE TRIGGER case_participants_append_only BEFORE UPDATE OR DELETE ON "case_participants"
  FOR EACH ROW EXECUTE FUNCTION tiergate_reject_change();
--> statement-breakpoint
CREATE TRIGGER case_participants_no_truncate BEFORE TRUNCATE ON "case_participants"
  FOR EACH STATEMENT EXECUTE FUNCTION tiergate_reject_change();
--> statement-breakpoint
REVOKE UPDATE, DELETE, TRUNCATE ON "case_participants" FROM tiergate_app;
