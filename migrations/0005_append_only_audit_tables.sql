-- Seals, checkpoints and break-glass reviews are evidence: append-only like the access log.
CREATE TRIGGER audit_seals_append_only BEFORE UPDATE OR DELETE ON "audit_seals"
  FOR EACH ROW EXECUTE FUNCTION tiergate_reject_change();
--> statement-breakpoint
CREATE TRIGGER audit_seals_no_truncate BEFORE TRUNCATE ON "audit_seals"
  FOR EACH STATEMENT EXECUTE FUNCTION tiergate_reject_change();
--> statement-breakpoint
CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON "audit_checkpoints"
  FOR EACH ROW EXECUTE FUNCTION tiergate_reject_change();
--> statement-breakpoint
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON "audit_checkpoints"
  FOR EACH STATEMENT EXECUTE FUNCTION tiergate_reject_change();
--> statement-breakpoint
CREATE TRIGGER break_glass_reviews_append_only BEFORE UPDATE OR DELETE ON "break_glass_reviews"
  FOR EACH ROW EXECUTE FUNCTION tiergate_reject_change();
--> statement-breakpoint
CREATE TRIGGER break_glass_reviews_no_truncate BEFORE TRUNCATE ON "break_glass_reviews"
  FOR EACH STATEMENT EXECUTE FUNCTION tiergate_reject_change();
--> statement-breakpoint
GRANT SELECT, INSERT ON "audit_seals", "audit_checkpoints", "break_glass_reviews" TO tiergate_app;
--> statement-breakpoint
REVOKE UPDATE, DELETE, TRUNCATE ON "audit_seals", "audit_checkpoints", "break_glass_reviews" FROM tiergate_app;
