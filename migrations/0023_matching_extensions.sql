-- The matcher's blocking (SPEC "One person, one record"): trigram similarity, Levenshtein and
-- accent folding. All three are trusted extensions (PostgreSQL 13+), so the database owner may
-- create them; PGlite loads their modules when the instance is created (src/db/client.ts).
CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;
--> statement-breakpoint
CREATE EXTENSION IF NOT EXISTS fuzzystrmatch WITH SCHEMA public;
--> statement-breakpoint
CREATE EXTENSION IF NOT EXISTS unaccent WITH SCHEMA public;
--> statement-breakpoint
-- A name as src/matching's nameKey folds it. unaccent() is only STABLE (its dictionary could
-- change), so it cannot be indexed or kept in a generated column; naming the dictionary makes
-- the result depend on the argument alone, which is what IMMUTABLE promises. The SQL-standard
-- body binds its names when created, whatever the caller's search_path.
CREATE OR REPLACE FUNCTION tiergate_name_key(name text) RETURNS text
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
  RETURN regexp_replace(lower(public.unaccent('public.unaccent'::regdictionary, name)), '[^a-z0-9]+', '', 'g');
