-- Several `vpndiag serve` replicas on one database.

-- Each replica's lease: it renews heartbeat_at every second; a replica
-- whose heartbeat is older than the lease time is dead, and what it held
-- (relay links, claimed jobs) is taken over.
CREATE TABLE replicas (
	id           text PRIMARY KEY,
	host         text NOT NULL,
	started_at   timestamptz NOT NULL,
	heartbeat_at timestamptz NOT NULL
);

-- Which replica holds each relay's link now (one row per relay); written by
-- the holder with every heartbeat.
CREATE TABLE relay_links (
	relay        text PRIMARY KEY,
	site_id      bigint NOT NULL,
	replica      text NOT NULL,
	heartbeat_at timestamptz NOT NULL
);
CREATE INDEX relay_links_site ON relay_links (site_id);

-- Probes asked on one replica for a relay held by another: claimed by the
-- holder with FOR UPDATE SKIP LOCKED, woken by NOTIFY vpndiag_relay_jobs;
-- the result comes back in the row and NOTIFY vpndiag_relay_results.
CREATE TABLE relay_jobs (
	id            text PRIMARY KEY,
	relay         text NOT NULL, -- '' for any relay of site_id
	site_id       bigint NOT NULL,
	request       jsonb NOT NULL,
	state         text NOT NULL CHECK (state IN ('pending', 'running', 'done', 'cancelled')),
	requested_by  text NOT NULL,
	claimed_by    text,
	created_at    timestamptz NOT NULL,
	claimed_at    timestamptz,
	done_at       timestamptz,
	result        json,
	error_code    text,
	error_message text
);
CREATE INDEX relay_jobs_pending ON relay_jobs (created_at) WHERE state = 'pending';

-- Keep-alive monitors the bot started on relays: whichever replica holds the
-- relay's link accepts their samples, stops them when they expire, and
-- takes them over when the relay reconnects to it.
CREATE TABLE relay_monitors (
	relay   text NOT NULL,
	name    text NOT NULL,
	case_id bigint NOT NULL,
	expires timestamptz NOT NULL,
	stopped boolean NOT NULL,
	owner   text NOT NULL,
	PRIMARY KEY (relay, name)
);
