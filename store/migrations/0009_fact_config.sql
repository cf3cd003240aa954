-- The configuration the facts were derived with, kept with them: commands that only read the
-- database use it unless given another one (a demo database knows its services and teams).
ALTER TABLE fact_state ADD COLUMN config_name TEXT NOT NULL DEFAULT '';   -- where it came from: a file name, or '' for the built-in defaults
ALTER TABLE fact_state ADD COLUMN config_source TEXT NOT NULL DEFAULT ''; -- its TOML text; secrets are never in it (they come from the environment)
