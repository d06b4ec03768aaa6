-- The proposals the cloud accepts for a site when they differ from its
-- published set: a JSON object {"phase1": {...}, "phase2": {...}}; {} means
-- the published sets.

ALTER TABLE sites ADD COLUMN proposals TEXT NOT NULL DEFAULT '{}';
