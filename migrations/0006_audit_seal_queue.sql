CREATE TABLE "audit_seal_queue" (
	"entry_id" uuid PRIMARY KEY NOT NULL,
	"seq" bigint NOT NULL
);
--> statement-breakpoint
ALTER TABLE "audit_checkpoints" ADD COLUMN "frontier" jsonb DEFAULT '[]'::jsonb NOT NULL;