-- Probe results, keep-alive samples, evidence, findings and relay tokens.

CREATE TABLE probe_results (
	id          TEXT PRIMARY KEY, -- job ID: a second delivery is ignored
	case_id     INTEGER REFERENCES cases (id), -- NULL for ad hoc probes
	kind        TEXT NOT NULL,
	target      TEXT NOT NULL,
	outcome     TEXT NOT NULL,
	summary     TEXT NOT NULL,
	detail      TEXT, -- JSON, NULL when none
	error       TEXT NOT NULL,
	relay       TEXT NOT NULL,
	started_at  TEXT NOT NULL,
	duration_ns INTEGER NOT NULL
);
CREATE INDEX probe_results_case_id ON probe_results (case_id, started_at);

CREATE TABLE keepalive_samples (
	id      INTEGER PRIMARY KEY AUTOINCREMENT,
	case_id INTEGER NOT NULL REFERENCES cases (id),
	monitor TEXT NOT NULL,
	time    TEXT NOT NULL,
	ok      INTEGER NOT NULL,
	rtt_ns  INTEGER NOT NULL
);
CREATE INDEX keepalive_samples_case_id ON keepalive_samples (case_id, time);

CREATE TABLE evidence (
	id              INTEGER PRIMARY KEY AUTOINCREMENT,
	case_id         INTEGER NOT NULL REFERENCES cases (id),
	name            TEXT NOT NULL,
	kind            TEXT NOT NULL,
	media_type      TEXT NOT NULL,
	vendor          TEXT NOT NULL,
	size            INTEGER NOT NULL,
	sha256          TEXT NOT NULL,
	original_size   INTEGER NOT NULL,
	original_sha256 TEXT NOT NULL,
	redactions      INTEGER NOT NULL,
	crc32           INTEGER NOT NULL,
	compressed_size INTEGER NOT NULL,
	uploaded_by     TEXT NOT NULL,
	created_at      TEXT NOT NULL
);
CREATE INDEX evidence_case_id ON evidence (case_id, id);

-- The raw DEFLATE stream of an evidence file, in order of n from 0.
CREATE TABLE evidence_chunks (
	evidence_id INTEGER NOT NULL REFERENCES evidence (id) ON DELETE CASCADE,
	n           INTEGER NOT NULL,
	data        BLOB NOT NULL,
	PRIMARY KEY (evidence_id, n)
) WITHOUT ROWID;

CREATE TABLE findings (
	id            INTEGER PRIMARY KEY AUTOINCREMENT,
	case_id       INTEGER NOT NULL REFERENCES cases (id),
	code          TEXT NOT NULL,
	severity      TEXT NOT NULL,
	severity_rank INTEGER NOT NULL,
	summary       TEXT NOT NULL,
	detail        TEXT NOT NULL,
	fix           TEXT NOT NULL,
	kb_article    TEXT NOT NULL,
	evidence      TEXT NOT NULL, -- JSON array of evidence refs
	source        TEXT NOT NULL,
	created_at    TEXT NOT NULL
);
CREATE INDEX findings_case_id ON findings (case_id, severity_rank DESC, id);

CREATE TABLE relay_tokens (
	id           INTEGER PRIMARY KEY AUTOINCREMENT,
	name         TEXT NOT NULL,
	site_id      INTEGER NOT NULL REFERENCES sites (id),
	hash         TEXT NOT NULL UNIQUE,
	prefix       TEXT NOT NULL,
	created_at   TEXT NOT NULL,
	last_seen_at TEXT,
	revoked_at   TEXT
);
-- A relay name has at most one token in force; it may be reissued after revocation.
CREATE UNIQUE INDEX relay_tokens_active_name ON relay_tokens (name) WHERE revoked_at IS NULL;
