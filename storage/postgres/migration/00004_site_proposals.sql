-- The proposals the cloud accepts for a site when they differ from its
-- published set (Site.Phase1, Site.Phase2): JSON objects, NULL when unset.

ALTER TABLE sites ADD COLUMN phase1 jsonb;
ALTER TABLE sites ADD COLUMN phase2 jsonb;
