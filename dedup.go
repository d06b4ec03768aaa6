package vpndiag

import "context"

// DedupService remembers deliveries already handled, for inputs that are not
// flow transitions (an uploaded file event, a slash command, a relay result):
// Slack and relays deliver at least once, and the second delivery must change
// nothing.
type DedupService interface {
	// Claim records key and reports whether this is its first claim.
	Claim(ctx context.Context, key string) (first bool, err error)
}
