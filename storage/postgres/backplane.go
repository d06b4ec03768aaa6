package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/relay"
)

// Replicas.
//
// A Backplane is one replica's membership of the group of `vpndiag serve`
// processes on this database. It keeps the replica's lease (a heartbeat
// row renewed every second), publishes which relays' links the replica
// holds, and carries probes between replicas: Forward, on the replica that
// was asked, writes a relay_jobs row and NOTIFYs; the replica holding the
// relay claims it (FOR UPDATE SKIP LOCKED, so exactly one does), runs it
// through its hub, writes the result into the row and NOTIFYs back. A job
// claimed by a replica that then dies goes back to pending once its lease
// has run out, and is claimed by the replica the relay has reconnected to.

// Channels of LISTEN/NOTIFY.
const (
	jobsChannel    = "vpndiag_relay_jobs"
	resultsChannel = "vpndiag_relay_results"
)

// DefaultLease is how long a replica's heartbeat stays valid.
const DefaultLease = 5 * time.Second

// Ensure the backplane is what the relay hub needs.
var (
	_ relay.Backplane    = (*Backplane)(nil)
	_ relay.MonitorStore = (*Backplane)(nil)
)

// Backplane is one replica's link to the others; see above. Set the fields,
// then call Run; Forward works once Run has started.
type Backplane struct {
	// DB is the shared database.
	DB *DB
	// ID names this replica; NewBackplane sets host-pid-random.
	ID string
	// Held returns the relays whose links this replica holds, by name with
	// their site IDs.
	Held func() map[string]int64
	// Probe runs a probe on a relay held here (the hub's own Probe).
	Probe func(ctx context.Context, req *vpndiag.ProbeRequest) (*vpndiag.ProbeResult, error)
	// Lease is how long a heartbeat stays valid; 0 means DefaultLease.
	Lease time.Duration
	// Logger receives what goes wrong; nil discards.
	Logger *slog.Logger

	mu      sync.Mutex
	waiters map[string]chan struct{}
	wake    chan struct{}
	ready   chan struct{}
	once    sync.Once
}

// NewBackplane returns a Backplane for db with a fresh replica ID.
func NewBackplane(db *DB) *Backplane {
	host, _ := os.Hostname()
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return &Backplane{DB: db, ID: fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b))}
}

func (b *Backplane) init() {
	b.once.Do(func() {
		b.waiters = map[string]chan struct{}{}
		b.wake = make(chan struct{}, 1)
		b.ready = make(chan struct{})
	})
}

// Joined returns nil once Run has written this replica's first heartbeat:
// before that the others do not count it live and cannot hand it jobs, so
// /readyz reports it not ready.
func (b *Backplane) Joined(context.Context) error {
	b.init()
	select {
	case <-b.ready:
		return nil
	default:
		return errors.New("this replica has not joined the others yet (first heartbeat pending)")
	}
}

func (b *Backplane) lease() time.Duration {
	if b.Lease > 0 {
		return b.Lease
	}
	return DefaultLease
}

func (b *Backplane) log() *slog.Logger {
	if b.Logger != nil {
		return b.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// Run keeps the lease, publishes the held relays and serves jobs for them
// until ctx ends; then it gives up its lease and links so that others take
// over at once. Errors of the database are logged and retried.
func (b *Backplane) Run(ctx context.Context) error {
	b.init()
	if err := b.beat(ctx); err != nil {
		return fmt.Errorf("backplane: %w", err)
	}
	close(b.ready)
	defer b.leave()
	go b.listen(ctx)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := b.beat(ctx); err != nil && ctx.Err() == nil {
				b.log().Warn("backplane: heartbeat", "replica", b.ID, "err", err)
			}
		case <-b.wake:
		}
		if err := b.claim(ctx); err != nil && ctx.Err() == nil {
			b.log().Warn("backplane: claim jobs", "replica", b.ID, "err", err)
		}
	}
}

// beat renews the lease and the held links, drops links this replica no
// longer holds, hands back jobs claimed by dead replicas and forgets old
// jobs.
func (b *Backplane) beat(ctx context.Context) error {
	host, _ := os.Hostname()
	held := map[string]int64{}
	if b.Held != nil {
		held = b.Held()
	}
	names := make([]string, 0, len(held))
	sites := make([]int64, 0, len(held))
	for n, s := range held {
		names, sites = append(names, n), append(sites, s)
	}
	tx, err := b.DB.BeginTx(ctx, pgx.TxOptions{})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	lease := b.lease().Seconds()
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO replicas (id, host, started_at, heartbeat_at) VALUES ($1, $2, now(), now())
			ON CONFLICT (id) DO UPDATE SET heartbeat_at = now()`, []any{b.ID, host}},
		{`DELETE FROM relay_links WHERE replica = $1 AND NOT relay = ANY($2)`, []any{b.ID, names}},
		{`INSERT INTO relay_links (relay, site_id, replica, heartbeat_at)
			SELECT * FROM unnest($1::text[], $2::bigint[]), LATERAL (SELECT $3::text, now()) AS r
			ON CONFLICT (relay) DO UPDATE SET site_id = excluded.site_id, replica = excluded.replica, heartbeat_at = now()`,
			[]any{names, sites, b.ID}},
		{`UPDATE relay_jobs SET state = 'pending', claimed_by = NULL, claimed_at = NULL
			WHERE state = 'running' AND claimed_by IN (SELECT id FROM replicas WHERE heartbeat_at < now() - make_interval(secs => $1))`, []any{lease}},
		{`DELETE FROM replicas WHERE heartbeat_at < now() - interval '1 hour'`, nil},
		{`DELETE FROM relay_jobs WHERE created_at < now() - interval '1 hour'`, nil},
	} {
		if _, err := tx.exec(ctx, q.sql, q.args...); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// leave ends the lease: links and running jobs are free for the others.
func (b *Backplane) leave() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, _ = b.DB.pool.Exec(ctx, `UPDATE relay_jobs SET state = 'pending', claimed_by = NULL WHERE state = 'running' AND claimed_by = $1`, b.ID)
	_, _ = b.DB.pool.Exec(ctx, `DELETE FROM relay_links WHERE replica = $1`, b.ID)
	_, _ = b.DB.pool.Exec(ctx, `DELETE FROM replicas WHERE id = $1`, b.ID)
	_, _ = b.DB.pool.Exec(ctx, `SELECT pg_notify($1, '')`, jobsChannel)
}

// listen holds a connection that LISTENs to both channels, waking the
// claim loop and the waiting Forward calls; it reconnects after errors.
func (b *Backplane) listen(ctx context.Context) {
	for ctx.Err() == nil {
		err := b.listenOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		b.log().Warn("backplane: listen", "replica", b.ID, "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func (b *Backplane) listenOnce(ctx context.Context) error {
	conn, err := b.DB.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// The connection keeps its LISTENs: it never goes back to the pool.
	pc := conn.Hijack()
	defer pc.Close(context.Background())
	for _, ch := range []string{jobsChannel, resultsChannel} {
		if _, err := pc.Exec(ctx, `LISTEN `+ch); err != nil {
			return err
		}
	}
	b.poke()
	for {
		n, err := pc.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		switch n.Channel {
		case jobsChannel:
			b.poke()
		case resultsChannel:
			b.mu.Lock()
			if w := b.waiters[n.Payload]; w != nil {
				select {
				case w <- struct{}{}:
				default:
				}
			}
			b.mu.Unlock()
		}
	}
}

// poke wakes the claim loop.
func (b *Backplane) poke() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// claimed is one job taken by this replica.
type claimed struct {
	id  string
	req vpndiag.ProbeRequest
}

// claim takes the pending jobs of the relays held here and runs each.
func (b *Backplane) claim(ctx context.Context) error {
	held := map[string]int64{}
	if b.Held != nil {
		held = b.Held()
	}
	if len(held) == 0 || b.Probe == nil {
		return nil
	}
	names := make([]string, 0, len(held))
	sites := make([]int64, 0, len(held))
	for n, s := range held {
		names, sites = append(names, n), append(sites, s)
	}
	rows, err := b.DB.pool.Query(ctx, `UPDATE relay_jobs SET state = 'running', claimed_by = $1, claimed_at = now()
		WHERE id IN (SELECT id FROM relay_jobs WHERE state = 'pending'
			AND (relay = ANY($2) OR (relay = '' AND site_id = ANY($3)))
			ORDER BY created_at FOR UPDATE SKIP LOCKED LIMIT 32)
		RETURNING id, request`, b.ID, names, sites)
	if err != nil {
		return runtimeError(err)
	}
	jobs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (claimed, error) {
		var c claimed
		var req []byte
		if err := row.Scan(&c.id, &req); err != nil {
			return c, err
		}
		return c, json.Unmarshal(req, &c.req)
	})
	if err != nil {
		return runtimeError(err)
	}
	for _, j := range jobs {
		go b.runJob(ctx, j)
	}
	return nil
}

// runJob runs one claimed job on the local hub and writes its outcome.
func (b *Backplane) runJob(ctx context.Context, j claimed) {
	timeout := j.req.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	rctx, cancel := context.WithTimeout(ctx, timeout+2*time.Second)
	res, err := b.Probe(rctx, &j.req)
	cancel()
	var resJSON []byte
	var code, msg *string
	if err != nil {
		c, m := vpndiag.ErrorCode(err), vpndiag.ErrorMessage(err)
		code, msg = &c, &m
		b.log().Info("backplane: forwarded probe failed", "replica", b.ID, "job", j.id, "err", err)
	} else if resJSON, err = json.Marshal(res); err != nil {
		c, m := vpndiag.EINTERNAL, "Internal error."
		code, msg = &c, &m
	}
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	_, err = b.DB.pool.Exec(wctx, `WITH u AS (UPDATE relay_jobs SET state = 'done', done_at = now(), result = $2,
		error_code = $3, error_message = $4 WHERE id = $1 AND claimed_by = $5 RETURNING id)
		SELECT pg_notify($6, id) FROM u`, j.id, nullJSON(resJSON), code, msg, b.ID, resultsChannel)
	if err != nil {
		b.log().Warn("backplane: write result", "replica", b.ID, "job", j.id, "err", err)
	}
}

// Forward runs req on the replica that holds the link of req.Relay (or,
// with Relay empty, of a relay of req.SiteID), waiting until ctx's
// deadline. EUNAVAILABLE when no live replica holds such a link, or when
// no result came in time.
func (b *Backplane) Forward(ctx context.Context, req *vpndiag.ProbeRequest) (*vpndiag.ProbeResult, error) {
	b.init()
	select {
	case <-b.ready:
	case <-ctx.Done():
		return nil, fmt.Errorf("backplane: forward: %w", ctx.Err())
	}
	if err := b.requireHolder(ctx, req); err != nil {
		return nil, err
	}
	reqJSON, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("backplane: forward: %w", err)
	}
	idb := make([]byte, 12)
	_, _ = rand.Read(idb)
	id := "fwd-" + hex.EncodeToString(idb)
	w := make(chan struct{}, 1)
	b.mu.Lock()
	b.waiters[id] = w
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		delete(b.waiters, id)
		b.mu.Unlock()
	}()
	if _, err := b.DB.pool.Exec(ctx, `WITH i AS (INSERT INTO relay_jobs (id, relay, site_id, request, state, requested_by, created_at)
		VALUES ($1, $2, $3, $4, 'pending', $5, now()) RETURNING id) SELECT pg_notify($6, id) FROM i`,
		id, req.Relay, req.SiteID, string(reqJSON), b.ID, jobsChannel); err != nil {
		return nil, fmt.Errorf("backplane: forward: %w", runtimeError(err))
	}
	poll := time.NewTicker(500 * time.Millisecond)
	defer poll.Stop()
	for {
		select {
		case <-w:
		case <-poll.C:
		case <-ctx.Done():
			cctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_, _ = b.DB.pool.Exec(cctx, `UPDATE relay_jobs SET state = 'cancelled' WHERE id = $1 AND state = 'pending'`, id)
			cancel()
			return nil, fmt.Errorf("backplane: job %s: %w: %w", id, ctx.Err(),
				vpndiag.Errorf(vpndiag.EUNAVAILABLE, "The relay did not return the %s probe's result in time.", req.Kind))
		}
		var state string
		var result []byte
		var code, msg *string
		err := b.DB.pool.QueryRow(ctx, `SELECT state, result::text, error_code, error_message FROM relay_jobs WHERE id = $1`, id).
			Scan(&state, &result, &code, &msg)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, fmt.Errorf("backplane: job %s vanished", id)
		} else if err != nil {
			if ctx.Err() != nil {
				continue
			}
			b.log().Warn("backplane: poll job", "job", id, "err", err)
			continue
		}
		if state != "done" {
			continue
		}
		if code != nil {
			return nil, vpndiag.Errorf(*code, "%s", *msg)
		}
		var res vpndiag.ProbeResult
		if err := json.Unmarshal(result, &res); err != nil {
			return nil, fmt.Errorf("backplane: job %s result: %w", id, err)
		}
		return &res, nil
	}
}

// requireHolder returns EUNAVAILABLE unless a live replica holds a link
// that can run req.
func (b *Backplane) requireHolder(ctx context.Context, req *vpndiag.ProbeRequest) error {
	lease := b.lease().Seconds()
	var siteID int64
	var ok bool
	var err error
	if req.Relay != "" {
		err = b.DB.pool.QueryRow(ctx, `SELECT site_id, heartbeat_at > now() - make_interval(secs => $2) FROM relay_links WHERE relay = $1`, req.Relay, lease).Scan(&siteID, &ok)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return vpndiag.Errorf(vpndiag.EUNAVAILABLE, "Relay %s is not connected to any replica of the bot.", req.Relay)
		case err != nil:
			return fmt.Errorf("backplane: %w", runtimeError(err))
		case req.SiteID != 0 && siteID != req.SiteID:
			return vpndiag.Errorf(vpndiag.EFORBIDDEN, "Relay %s does not serve this case's site.", req.Relay)
		case !ok:
			return vpndiag.Errorf(vpndiag.EUNAVAILABLE, "Relay %s was connected to a replica of the bot that stopped answering; it has not reconnected yet.", req.Relay)
		}
		return nil
	}
	err = b.DB.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM relay_links WHERE site_id = $1 AND heartbeat_at > now() - make_interval(secs => $2))`, req.SiteID, lease).Scan(&ok)
	if err != nil {
		return fmt.Errorf("backplane: %w", runtimeError(err))
	} else if !ok {
		return vpndiag.Errorf(vpndiag.EUNAVAILABLE, "No relay of this case's site is connected to any replica of the bot.")
	}
	return nil
}

// Replicas returns the live replicas' IDs, this one included, and how many
// relay links each holds, for /readyz.
func (b *Backplane) Replicas(ctx context.Context) (map[string]int, error) {
	rows, err := b.DB.pool.Query(ctx, `SELECT r.id, count(l.relay) FROM replicas r LEFT JOIN relay_links l ON l.replica = r.id
		WHERE r.heartbeat_at > now() - make_interval(secs => $1) GROUP BY r.id`, b.lease().Seconds())
	if err != nil {
		return nil, runtimeError(err)
	}
	out := map[string]int{}
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			return nil, err
		}
		out[id] = n
	}
	return out, rows.Err()
}

// SaveMonitor records a monitor started (or stopped) by this replica,
// which owns it.
func (b *Backplane) SaveMonitor(ctx context.Context, m relay.MonitorRecord) error {
	_, err := b.DB.pool.Exec(ctx, `INSERT INTO relay_monitors (relay, name, case_id, expires, stopped, owner)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (relay, name) DO UPDATE SET case_id = excluded.case_id,
		expires = excluded.expires, stopped = excluded.stopped, owner = excluded.owner`,
		m.Relay, m.Name, m.CaseID, micro(m.Expires), m.Stopped, b.ID)
	if err != nil {
		return fmt.Errorf("backplane: save monitor: %w", runtimeError(err))
	}
	return nil
}

// DeleteMonitor forgets a monitor.
func (b *Backplane) DeleteMonitor(ctx context.Context, relayName, name string) error {
	if _, err := b.DB.pool.Exec(ctx, `DELETE FROM relay_monitors WHERE relay = $1 AND name = $2`, relayName, name); err != nil {
		return fmt.Errorf("backplane: delete monitor: %w", runtimeError(err))
	}
	return nil
}

// FindMonitors returns the relay's monitors and makes this replica their
// owner: the replica that holds a relay's link owns its monitors.
func (b *Backplane) FindMonitors(ctx context.Context, relayName string) ([]relay.MonitorRecord, error) {
	rows, err := b.DB.pool.Query(ctx, `UPDATE relay_monitors SET owner = $2 WHERE relay = $1
		RETURNING relay, name, case_id, expires, stopped`, relayName, b.ID)
	if err != nil {
		return nil, fmt.Errorf("backplane: find monitors: %w", runtimeError(err))
	}
	ms, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (relay.MonitorRecord, error) {
		var m relay.MonitorRecord
		err := row.Scan(&m.Relay, &m.Name, &m.CaseID, &m.Expires, &m.Stopped)
		m.Expires = m.Expires.UTC()
		return m, err
	})
	if err != nil {
		return nil, fmt.Errorf("backplane: find monitors: %w", runtimeError(err))
	}
	return ms, nil
}
