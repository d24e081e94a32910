CREATE TABLE "not_duplicate_decisions" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"subject_low" uuid NOT NULL,
	"subject_high" uuid NOT NULL,
	"reason" text NOT NULL,
	"decided_by" uuid NOT NULL,
	"decided_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "not_duplicate_decisions_order_check" CHECK ("not_duplicate_decisions"."subject_low" < "not_duplicate_decisions"."subject_high")
);
--> statement-breakpoint
CREATE TABLE "subject_identifiers" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"subject_id" uuid NOT NULL,
	"agency_id" uuid NOT NULL,
	"value" text NOT NULL,
	"value_key" text GENERATED ALWAYS AS (tiergate_name_key(value)) STORED,
	"added_by" uuid NOT NULL,
	"added_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
DROP INDEX "subjects_search_idx";--> statement-breakpoint
ALTER TABLE "agencies" ADD COLUMN "part2_program" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "subjects" ADD COLUMN "given_key" text GENERATED ALWAYS AS (tiergate_name_key(given_name)) STORED;--> statement-breakpoint
ALTER TABLE "subjects" ADD COLUMN "family_key" text GENERATED ALWAYS AS (tiergate_name_key(family_name)) STORED;--> statement-breakpoint
ALTER TABLE "not_duplicate_decisions" ADD CONSTRAINT "not_duplicate_decisions_subject_low_subjects_id_fk" FOREIGN KEY ("subject_low") REFERENCES "public"."subjects"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "not_duplicate_decisions" ADD CONSTRAINT "not_duplicate_decisions_subject_high_subjects_id_fk" FOREIGN KEY ("subject_high") REFERENCES "public"."subjects"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "not_duplicate_decisions" ADD CONSTRAINT "not_duplicate_decisions_decided_by_users_id_fk" FOREIGN KEY ("decided_by") REFERENCES "public"."users"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "subject_identifiers" ADD CONSTRAINT "subject_identifiers_subject_id_subjects_id_fk" FOREIGN KEY ("subject_id") REFERENCES "public"."subjects"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "subject_identifiers" ADD CONSTRAINT "subject_identifiers_agency_id_agencies_id_fk" FOREIGN KEY ("agency_id") REFERENCES "public"."agencies"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "subject_identifiers" ADD CONSTRAINT "subject_identifiers_added_by_users_id_fk" FOREIGN KEY ("added_by") REFERENCES "public"."users"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "not_duplicate_decisions_pair_idx" ON "not_duplicate_decisions" USING btree ("subject_low","subject_high");--> statement-breakpoint
CREATE INDEX "not_duplicate_decisions_high_idx" ON "not_duplicate_decisions" USING btree ("subject_high");--> statement-breakpoint
CREATE UNIQUE INDEX "subject_identifiers_system_value_idx" ON "subject_identifiers" USING btree ("agency_id","value_key");--> statement-breakpoint
CREATE INDEX "subject_identifiers_subject_idx" ON "subject_identifiers" USING btree ("subject_id");--> statement-breakpoint
CREATE INDEX "subjects_blocking_idx" ON "subjects" USING btree ("birth_date","family_key","given_key","id");