CREATE TABLE "audit_verify_jobs" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"requested_by" uuid NOT NULL,
	"phase" text DEFAULT 'reading' NOT NULL,
	"entries" integer,
	"started_at" timestamp with time zone DEFAULT now() NOT NULL,
	"heartbeat_at" timestamp with time zone DEFAULT now() NOT NULL,
	"finished_at" timestamp with time zone,
	"report" jsonb,
	CONSTRAINT "audit_verify_jobs_phase" CHECK ("audit_verify_jobs"."phase" in ('reading', 'checking', 'done', 'failed')),
	CONSTRAINT "audit_verify_jobs_finished" CHECK (("audit_verify_jobs"."finished_at" is null) = ("audit_verify_jobs"."phase" in ('reading', 'checking')))
);
--> statement-breakpoint
ALTER TABLE "audit_verify_jobs" ADD CONSTRAINT "audit_verify_jobs_requested_by_users_id_fk" FOREIGN KEY ("requested_by") REFERENCES "public"."users"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "audit_verify_jobs_one_running" ON "audit_verify_jobs" USING btree ((true)) WHERE "audit_verify_jobs"."finished_at" is null;--> statement-breakpoint
CREATE INDEX "audit_verify_jobs_started_at_idx" ON "audit_verify_jobs" USING btree ("started_at");