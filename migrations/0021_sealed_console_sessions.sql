CREATE TABLE "console_sealed_sessions" (
	"sid_hash" text PRIMARY KEY NOT NULL,
	"user_id" uuid,
	"sealed" text NOT NULL,
	"authenticated_at" timestamp with time zone,
	"last_seen_at" timestamp with time zone NOT NULL,
	"expires_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
DROP TABLE "console_sessions" CASCADE;--> statement-breakpoint
ALTER TABLE "users" ADD COLUMN "tokens_valid_after" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "console_sealed_sessions" ADD CONSTRAINT "console_sealed_sessions_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "console_sealed_sessions_user_id_idx" ON "console_sealed_sessions" USING btree ("user_id");--> statement-breakpoint
CREATE INDEX "console_sealed_sessions_expires_at_idx" ON "console_sealed_sessions" USING btree ("expires_at");