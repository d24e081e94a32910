-- The order of a case team's history (members added, agencies joined) from one sequence, so that
-- "on the team when that agency joined" never rests on two timestamps in one clock tick.
-- Rows from before keep a null order (they are history and do not change); the policy falls back
-- to their timestamps for them.
CREATE SEQUENCE "public"."case_team_order" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1;--> statement-breakpoint
ALTER TABLE "case_members" ADD COLUMN "team_order" bigint;--> statement-breakpoint
ALTER TABLE "case_members" ALTER COLUMN "team_order" SET DEFAULT nextval('case_team_order');--> statement-breakpoint
ALTER TABLE "case_participants" ADD COLUMN "team_order" bigint;--> statement-breakpoint
ALTER TABLE "case_participants" ALTER COLUMN "team_order" SET DEFAULT nextval('case_team_order');--> statement-breakpoint
GRANT USAGE, SELECT ON SEQUENCE "public"."case_team_order" TO tiergate_app;
