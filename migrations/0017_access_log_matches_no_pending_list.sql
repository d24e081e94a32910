DROP INDEX "access_log_matches_idx";--> statement-breakpoint
CREATE INDEX "access_log_matches_idx" ON "access_log" USING gin (("detail" -> 'matches') jsonb_path_ops) WITH (fastupdate=false);