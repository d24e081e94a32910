-- An approval is decided once: a pending request may become approved or rejected (with who,
-- when and the note), and nothing else about it ever changes; no request is deleted or
-- truncated, for any role. Without this a compromised gateway could turn a rejection into an
-- approval after the fact, or erase who asked for an account.
CREATE FUNCTION tiergate_approval_decide_once() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  changeable CONSTANT text[] := ARRAY['status', 'decided_by', 'decided_at', 'note'];
BEGIN
  IF OLD.status = 'pending' AND NEW.status IN ('approved', 'rejected') AND NEW.decided_by IS NOT NULL AND NEW.decided_at IS NOT NULL
     AND (to_jsonb(NEW) - changeable) = (to_jsonb(OLD) - changeable) THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'an approval may only be decided, once; nothing else about it changes'
    USING ERRCODE = 'insufficient_privilege';
END;
$$;
--> statement-breakpoint
CREATE TRIGGER approvals_decide_once BEFORE UPDATE ON "approvals"
  FOR EACH ROW EXECUTE FUNCTION tiergate_approval_decide_once();
--> statement-breakpoint
CREATE TRIGGER approvals_no_delete BEFORE DELETE ON "approvals"
  FOR EACH ROW EXECUTE FUNCTION tiergate_reject_change();
--> statement-breakpoint
CREATE TRIGGER approvals_no_truncate BEFORE TRUNCATE ON "approvals"
  FOR EACH STATEMENT EXECUTE FUNCTION tiergate_reject_change();
--> statement-breakpoint
REVOKE DELETE, TRUNCATE ON "approvals" FROM tiergate_app;
