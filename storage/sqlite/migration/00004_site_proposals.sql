-- The proposals the cloud accepts for a site when they differ from its
-- published set (Site.Phase1, Site.Phase2): JSON objects, '' when unset.

ALTER TABLE sites ADD COLUMN phase1 TEXT NOT NULL DEFAULT '';
ALTER TABLE sites ADD COLUMN phase2 TEXT NOT NULL DEFAULT '';
