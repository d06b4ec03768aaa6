-- Site profiles belong to the Slack channels that set them up: a JSON
-- array of channel IDs; [] (sites of the config file and the terminal)
-- means every channel may use the site and Slack may not change it.

ALTER TABLE sites ADD COLUMN channels TEXT NOT NULL DEFAULT '[]';
