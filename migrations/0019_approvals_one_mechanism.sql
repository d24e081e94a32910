CREATE TABLE "bootstrap_steps" (
	"step" text PRIMARY KEY NOT NULL,
	"user_id" uuid,
	"at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "approvals" DROP CONSTRAINT "approvals_kind_check";--> statement-breakpoint
ALTER TABLE "approvals" DROP CONSTRAINT "approvals_target_check";--> statement-breakpoint
DROP INDEX "approvals_pending_user_idx";--> statement-breakpoint
DROP INDEX "approvals_pending_client_idx";--> statement-breakpoint
ALTER TABLE "approvals" ALTER COLUMN "agency_id" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "approvals" ADD COLUMN "effect" text DEFAULT 'on-approval' NOT NULL;--> statement-breakpoint
ALTER TABLE "users" ADD COLUMN "approver_basis" text;--> statement-breakpoint
ALTER TABLE "users" ADD COLUMN "approver_approval_id" uuid;--> statement-breakpoint
ALTER TABLE "bootstrap_steps" ADD CONSTRAINT "bootstrap_steps_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "users" ADD CONSTRAINT "users_approver_approval_id_approvals_id_fk" FOREIGN KEY ("approver_approval_id") REFERENCES "public"."approvals"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "approvals_pending_user_idx" ON "approvals" USING btree ("kind","user_id") WHERE "approvals"."status" = 'pending' and "approvals"."effect" = 'on-approval' and "approvals"."user_id" is not null;--> statement-breakpoint
CREATE UNIQUE INDEX "approvals_pending_client_idx" ON "approvals" USING btree ("kind","client_id") WHERE "approvals"."status" = 'pending' and "approvals"."effect" = 'on-approval' and "approvals"."client_id" is not null;--> statement-breakpoint
ALTER TABLE "approvals" ADD CONSTRAINT "approvals_effect_check" CHECK ("approvals"."effect" in ('on-approval', 'at-once'));--> statement-breakpoint
ALTER TABLE "approvals" ADD CONSTRAINT "approvals_kind_check" CHECK ("approvals"."kind" in ('user.invite', 'user.role', 'user.mfa-reset', 'user.disable', 'client.register', 'client.users', 'client.disable', 'agency.disable'));--> statement-breakpoint
ALTER TABLE "approvals" ADD CONSTRAINT "approvals_target_check" CHECK (num_nonnulls("approvals"."user_id", "approvals"."client_id") <= 1);--> statement-breakpoint
ALTER TABLE "users" ADD CONSTRAINT "users_approver_basis_check" CHECK (("users"."approver_basis" is null and "users"."approver_approval_id" is null) or ("users"."approver_basis" = 'approval' and "users"."approver_approval_id" is not null) or ("users"."approver_basis" in ('bootstrap', 'pre-existing') and "users"."approver_approval_id" is null));