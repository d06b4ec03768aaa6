package vpndiag

import (
	"context"
	"time"
)

// RelayToken enrols one relay for one site. Only a hash of the token is
// stored; the token itself is shown once, when created.
type RelayToken struct {
	// ID is the store's primary key.
	ID int64 `json:"id"`
	// Name identifies the relay, e.g. "hq-relay-1".
	Name string `json:"name"`
	// SiteID is the site the relay serves.
	SiteID int64 `json:"site_id"`
	// Hash is the hex SHA-256 of the token.
	Hash string `json:"-"`
	// Prefix is the token's first characters, to tell tokens apart in lists.
	Prefix string `json:"prefix"`
	// CreatedAt is when it was issued.
	CreatedAt time.Time `json:"created_at"`
	// LastSeenAt is when a relay last authenticated with it.
	LastSeenAt *time.Time `json:"last_seen_at,omitempty"`
	// RevokedAt is set when revoked; a revoked token is refused at once.
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

// RelayTokenService stores relay tokens.
type RelayTokenService interface {
	// CreateRelayToken stores t (with Hash set by the caller).
	CreateRelayToken(ctx context.Context, t *RelayToken) error
	// FindRelayTokenByHash returns ENOTFOUND when no token has that hash.
	FindRelayTokenByHash(ctx context.Context, hash string) (*RelayToken, error)
	// FindRelayTokens lists every token, revoked ones included.
	FindRelayTokens(ctx context.Context) ([]*RelayToken, error)
	// RevokeRelayToken revokes the token named name.
	RevokeRelayToken(ctx context.Context, name string) error
	// TouchRelayToken records that the token was just used.
	TouchRelayToken(ctx context.Context, id int64, at time.Time) error
}
