-- Sites, cases, flow sessions, answers and the case timeline.
-- Times are UTC text, RFC 3339 with nine fractional digits.

CREATE TABLE sites (
	id                 INTEGER PRIMARY KEY AUTOINCREMENT,
	name               TEXT NOT NULL UNIQUE,
	cloud_dns_servers  TEXT NOT NULL, -- JSON array of IP addresses
	vpn_endpoints      TEXT NOT NULL, -- JSON array of IP addresses
	cloud_cidr         TEXT NOT NULL,
	environment_fqdns  TEXT NOT NULL, -- JSON array of names
	cloud_domain       TEXT NOT NULL,
	customer_cidrs     TEXT NOT NULL, -- JSON array of prefixes
	internal_resolvers TEXT NOT NULL, -- JSON array of IP addresses
	customer_peer      TEXT NOT NULL,
	routing            TEXT NOT NULL,
	ike_version        INTEGER NOT NULL,
	only_443           INTEGER NOT NULL,
	console_version    TEXT NOT NULL,
	created_at         TEXT NOT NULL,
	updated_at         TEXT NOT NULL
);

CREATE TABLE cases (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	marker     TEXT NOT NULL UNIQUE,
	site_id    INTEGER REFERENCES sites (id),
	title      TEXT NOT NULL,
	status     TEXT NOT NULL,
	origin     TEXT NOT NULL,
	channel_id TEXT NOT NULL,
	thread_ts  TEXT NOT NULL,
	created_by TEXT NOT NULL,
	resolution TEXT NOT NULL,
	kb_article TEXT NOT NULL,
	created_at TEXT NOT NULL,
	updated_at TEXT NOT NULL
);
CREATE INDEX cases_channel_id ON cases (channel_id);
CREATE INDEX cases_site_id ON cases (site_id);

CREATE TABLE sessions (
	case_id      INTEGER PRIMARY KEY REFERENCES cases (id),
	flow         TEXT NOT NULL,
	flow_version INTEGER NOT NULL,
	state        TEXT NOT NULL,
	seq          INTEGER NOT NULL,
	vars         TEXT NOT NULL, -- JSON object
	path         TEXT NOT NULL, -- JSON array of states
	updated_at   TEXT NOT NULL
);

CREATE TABLE answers (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	case_id    INTEGER NOT NULL REFERENCES cases (id),
	seq        INTEGER NOT NULL,
	flow       TEXT NOT NULL,
	state      TEXT NOT NULL,
	question   TEXT NOT NULL,
	choice     TEXT NOT NULL,
	label      TEXT NOT NULL,
	value      TEXT NOT NULL,
	source     TEXT NOT NULL,
	source_ref TEXT NOT NULL,
	actor      TEXT NOT NULL,
	created_at TEXT NOT NULL
);
CREATE INDEX answers_case_id ON answers (case_id, id);

-- The timeline is append-only: seq numbers a case's events from 1.
CREATE TABLE events (
	id      INTEGER PRIMARY KEY AUTOINCREMENT,
	case_id INTEGER NOT NULL REFERENCES cases (id),
	seq     INTEGER NOT NULL,
	time    TEXT NOT NULL,
	actor   TEXT NOT NULL,
	kind    TEXT NOT NULL,
	message TEXT NOT NULL,
	data    TEXT, -- JSON, NULL when none
	UNIQUE (case_id, seq)
);
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN
	SELECT RAISE(ABORT, 'events are append-only');
END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN
	SELECT RAISE(ABORT, 'events are append-only');
END;

-- Idempotency keys of applied transitions (Slack retries, double clicks).
CREATE TABLE transition_keys (
	key        TEXT PRIMARY KEY,
	case_id    INTEGER NOT NULL REFERENCES cases (id),
	created_at TEXT NOT NULL
);

-- Deliveries already handled that are not transitions.
CREATE TABLE dedup_keys (
	key        TEXT PRIMARY KEY,
	created_at TEXT NOT NULL
);
