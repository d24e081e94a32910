-- Rows that record decisions about a person keep their history, for every role, the owner
-- included: a consent may only be revoked (once), a case only closed, a team member only
-- removed, and a break-glass grant never changes. Nothing is deleted or truncated. Without
-- this a compromised gateway could un-revoke a consent or erase an emergency's stated reason.
CREATE FUNCTION tiergate_consent_revoke_only() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  changeable CONSTANT text[] := ARRAY['revoked_at', 'revoked_by', 'revocation_reason'];
BEGIN
  IF OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL AND (to_jsonb(NEW) - changeable) = (to_jsonb(OLD) - changeable) THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'a consent may only be revoked, once; nothing else about it changes'
    USING ERRCODE = 'insufficient_privilege';
END;
$$;
--> statement-breakpoint
CREATE FUNCTION tiergate_case_close_only() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  changeable CONSTANT text[] := ARRAY['status', 'closed_at', 'closed_by'];
BEGIN
  IF OLD.status = 'open' AND NEW.status = 'closed' AND NEW.closed_at IS NOT NULL AND (to_jsonb(NEW) - changeable) = (to_jsonb(OLD) - changeable) THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'a case may only be closed, once; nothing else about it changes'
    USING ERRCODE = 'insufficient_privilege';
END;
$$;
--> statement-breakpoint
CREATE FUNCTION tiergate_case_member_remove_only() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  changeable CONSTANT text[] := ARRAY['removed_at', 'removed_by'];
BEGIN
  IF OLD.removed_at IS NULL AND NEW.removed_at IS NOT NULL AND (to_jsonb(NEW) - changeable) = (to_jsonb(OLD) - changeable) THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'a case member may only be removed, once; nothing else about the membership changes'
    USING ERRCODE = 'insufficient_privilege';
END;
$$;
--> statement-breakpoint
CREATE TRIGGER consents_revoke_only BEFORE UPDATE ON "consents"
  FOR EACH ROW EXECUTE FUNCTION tiergate_consent_revoke_only();
--> statement-breakpoint
CREATE TRIGGER consents_no_truncate BEFORE TRUNCATE ON "consents"
  FOR EACH STATEMENT EXECUTE FUNCTION tiergate_reject_change();
--> statement-breakpoint
CREATE TRIGGER cases_close_only BEFORE UPDATE ON "cases"
  FOR EACH ROW EXECUTE FUNCTION tiergate_case_close_only();
--> statement-breakpoint
CREATE TRIGGER cases_no_delete BEFORE DELETE ON "cases"
  FOR EACH ROW EXECUTE FUNCTION tiergate_reject_change();
--> statement-breakpoint
CREATE TRIGGER cases_no_truncate BEFORE TRUNCATE ON "cases"
  FOR EACH STATEMENT EXECUTE FUNCTION tiergate_reject_change();
--> statement-breakpoint
CREATE TRIGGER case_members_remove_only BEFORE UPDATE ON "case_members"
  FOR EACH ROW EXECUTE FUNCTION tiergate_case_member_remove_only();
--> statement-breakpoint
CREATE TRIGGER case_members_no_delete BEFORE DELETE ON "case_members"
  FOR EACH ROW EXECUTE FUNCTION tiergate_reject_change();
--> statement-breakpoint
CREATE TRIGGER case_members_no_truncate BEFORE TRUNCATE ON "case_members"
  FOR EACH STATEMENT EXECUTE FUNCTION tiergate_reject_change();
--> statement-breakpoint
CREATE TRIGGER break_glass_grants_append_only BEFORE UPDATE OR DELETE ON "break_glass_grants"
  FOR EACH ROW EXECUTE FUNCTION tiergate_reject_change();
--> statement-breakpoint
CREATE TRIGGER break_glass_grants_no_truncate BEFORE TRUNCATE ON "break_glass_grants"
  FOR EACH STATEMENT EXECUTE FUNCTION tiergate_reject_change();
--> statement-breakpoint
REVOKE DELETE, TRUNCATE ON "consents", "cases", "case_members", "break_glass_grants" FROM tiergate_app;
--> statement-breakpoint
REVOKE UPDATE ON "break_glass_grants" FROM tiergate_app;
