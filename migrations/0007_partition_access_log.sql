CREATE TABLE "audit_retentions" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"partition" text NOT NULL,
	"range_from" timestamp with time zone NOT NULL,
	"range_to" timestamp with time zone NOT NULL,
	"entries" integer NOT NULL,
	"leaf_ranges" jsonb NOT NULL,
	"dropped_at" timestamp with time zone DEFAULT now() NOT NULL,
	"kid" text NOT NULL,
	"jws" text NOT NULL,
	CONSTRAINT "audit_retentions_partition_unique" UNIQUE("partition")
);
--> statement-breakpoint
-- The access log becomes range-partitioned by month of "at" (UTC), so that retention drops whole
-- months instead of deleting rows, and the six-year accounting window prunes to its partitions.
-- drizzle-kit cannot express partitioning; the generated constraint changes are folded in here.
ALTER TABLE "access_log" RENAME TO "access_log_unpartitioned";
--> statement-breakpoint
ALTER TABLE "access_log_unpartitioned" RENAME CONSTRAINT "access_log_pkey" TO "access_log_unpartitioned_pkey";
--> statement-breakpoint
ALTER TABLE "access_log_unpartitioned" RENAME CONSTRAINT "access_log_seq_unique" TO "access_log_unpartitioned_seq_unique";
--> statement-breakpoint
DROP INDEX "access_log_subject_idx";
--> statement-breakpoint
DROP INDEX "access_log_actor_idx";
--> statement-breakpoint
DROP INDEX "access_log_at_idx";
--> statement-breakpoint
CREATE TABLE "access_log" (
	"id" uuid DEFAULT gen_random_uuid() NOT NULL,
	"seq" bigint DEFAULT nextval('access_log_seq_seq') NOT NULL,
	"at" timestamp with time zone DEFAULT now() NOT NULL,
	"request_id" text NOT NULL,
	"actor_user_id" uuid,
	"actor_username" text,
	"actor_agency" text,
	"actor_role" text,
	"subject_id" uuid,
	"action" text NOT NULL,
	"decision" text NOT NULL,
	"tier" text,
	"basis" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"break_glass" boolean DEFAULT false NOT NULL,
	"reason" text,
	"detail" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"actor_client" text,
	CONSTRAINT "access_log_pkey" PRIMARY KEY("id","at"),
	CONSTRAINT "access_log_seq_unique" UNIQUE("seq","at")
) PARTITION BY RANGE ("at");
--> statement-breakpoint
ALTER SEQUENCE "access_log_seq_seq" OWNED BY "access_log"."seq";
--> statement-breakpoint
CREATE INDEX "access_log_subject_idx" ON "access_log" USING btree ("subject_id","seq");
--> statement-breakpoint
CREATE INDEX "access_log_actor_idx" ON "access_log" USING btree ("actor_user_id","seq");
--> statement-breakpoint
CREATE INDEX "access_log_at_idx" ON "access_log" USING btree ("at");
--> statement-breakpoint
-- Row triggers on the parent are cloned onto every partition; TRUNCATE triggers are not, so the
-- partition function adds one to each partition.
CREATE TRIGGER access_log_no_update_delete BEFORE UPDATE OR DELETE ON "access_log"
  FOR EACH ROW EXECUTE FUNCTION tiergate_reject_change();
--> statement-breakpoint
CREATE TRIGGER access_log_no_truncate BEFORE TRUNCATE ON "access_log"
  FOR EACH STATEMENT EXECUTE FUNCTION tiergate_reject_change();
--> statement-breakpoint
-- The partition of the month holding "month" (UTC), created if missing: append-only like its
-- parent and out of the gateway role's reach (it writes and reads through the parent only).
-- SECURITY DEFINER because only the owner may create partitions; not granted to anyone.
CREATE FUNCTION tiergate_create_log_partition(month timestamptz) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  lo timestamptz := date_trunc('month', month, 'UTC');
  hi timestamptz := date_trunc('month', date_trunc('month', month, 'UTC') + interval '32 days', 'UTC');
  name text := 'access_log_' || to_char(date_trunc('month', month, 'UTC') AT TIME ZONE 'UTC', '"y"YYYY"m"MM');
BEGIN
  IF to_regclass(name) IS NOT NULL THEN
    RETURN name;
  END IF;
  BEGIN
    EXECUTE format('CREATE TABLE %I PARTITION OF access_log FOR VALUES FROM (%L) TO (%L)', name, lo, hi);
  EXCEPTION WHEN duplicate_table THEN
    RETURN name; -- another instance created it first
  END;
  EXECUTE format('CREATE TRIGGER access_log_no_truncate BEFORE TRUNCATE ON %I FOR EACH STATEMENT EXECUTE FUNCTION tiergate_reject_change()', name);
  EXECUTE format('REVOKE ALL ON %I FROM PUBLIC', name);
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tiergate_app') THEN
    EXECUTE format('REVOKE ALL ON %I FROM tiergate_app', name);
  END IF;
  RETURN name;
END;
$$;
--> statement-breakpoint
-- This month's partition and the next months_ahead ones; the gateway calls it at start and daily.
CREATE FUNCTION tiergate_ensure_log_partitions(months_ahead integer DEFAULT 2) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  IF months_ahead < 0 OR months_ahead > 12 THEN
    RAISE EXCEPTION 'months_ahead must be between 0 and 12';
  END IF;
  FOR i IN 0..months_ahead LOOP
    PERFORM tiergate_create_log_partition(date_trunc('month', now(), 'UTC') + make_interval(months => i));
  END LOOP;
END;
$$;
--> statement-breakpoint
-- Detaches and drops one month of the log, refusing anything younger than six years (45 CFR
-- 164.316(b)(2)(i) and 164.528) whatever the caller asks. Only the owner may call it; the
-- retention command signs a record of what the month held first.
CREATE FUNCTION tiergate_retire_log_partition(partition_name text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  lo timestamptz;
  hi timestamptz;
BEGIN
  IF partition_name !~ '^access_log_y[0-9]{4}m[0-9]{2}$' OR NOT EXISTS (
    SELECT 1 FROM pg_inherits WHERE inhparent = 'access_log'::regclass AND inhrelid = to_regclass(partition_name)
  ) THEN
    RAISE EXCEPTION '% is not a partition of access_log', partition_name;
  END IF;
  lo := (substr(partition_name, 13, 4) || '-' || substr(partition_name, 18, 2) || '-01')::timestamp AT TIME ZONE 'UTC';
  hi := date_trunc('month', lo + interval '32 days', 'UTC');
  IF hi > now() - interval '6 years' THEN
    RAISE EXCEPTION '% holds entries younger than six years', partition_name USING ERRCODE = 'insufficient_privilege';
  END IF;
  EXECUTE format('ALTER TABLE access_log DETACH PARTITION %I', partition_name);
  EXECUTE format('DROP TABLE %I', partition_name);
END;
$$;
--> statement-breakpoint
REVOKE ALL ON FUNCTION tiergate_create_log_partition(timestamptz), tiergate_ensure_log_partitions(integer), tiergate_retire_log_partition(text) FROM PUBLIC;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION tiergate_ensure_log_partitions(integer) TO tiergate_app;
--> statement-breakpoint
-- Partitions for every month already logged, and the months ahead; then the rows move over.
DO $$
DECLARE
  m timestamptz;
BEGIN
  FOR m IN SELECT DISTINCT date_trunc('month', "at", 'UTC') FROM "access_log_unpartitioned" LOOP
    PERFORM tiergate_create_log_partition(m);
  END LOOP;
  PERFORM tiergate_ensure_log_partitions(2);
END;
$$;
--> statement-breakpoint
INSERT INTO "access_log" SELECT "id", "seq", "at", "request_id", "actor_user_id", "actor_username", "actor_agency", "actor_role", "subject_id", "action", "decision", "tier", "basis", "break_glass", "reason", "detail", "actor_client" FROM "access_log_unpartitioned";
--> statement-breakpoint
DROP TABLE "access_log_unpartitioned";
--> statement-breakpoint
REVOKE ALL ON "access_log" FROM tiergate_app;
--> statement-breakpoint
GRANT SELECT, INSERT ON "access_log" TO tiergate_app;
--> statement-breakpoint
CREATE TRIGGER audit_retentions_append_only BEFORE UPDATE OR DELETE ON "audit_retentions"
  FOR EACH ROW EXECUTE FUNCTION tiergate_reject_change();
--> statement-breakpoint
CREATE TRIGGER audit_retentions_no_truncate BEFORE TRUNCATE ON "audit_retentions"
  FOR EACH STATEMENT EXECUTE FUNCTION tiergate_reject_change();
--> statement-breakpoint
-- The gateway reads retention records (for exports); only the owner's retention command writes them.
REVOKE ALL ON "audit_retentions" FROM tiergate_app;
--> statement-breakpoint
GRANT SELECT ON "audit_retentions" TO tiergate_app;
