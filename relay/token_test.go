package relay_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/vpndiag/vpndiag/relay"
)

// A new token is recognisable by its prefix, random, shown by a short
// prefix, and stored only as the hash that HashToken gives for it (with
// the white space a paste adds ignored).
func TestNewToken(t *testing.T) {
	token, hash, prefix := relay.NewToken()
	other, otherHash, _ := relay.NewToken()
	for _, tt := range []struct {
		name string
		ok   bool
	}{
		{"token starts with TokenPrefix", strings.HasPrefix(token, relay.TokenPrefix)},
		{"token holds 256 random bits", len(token) == len(relay.TokenPrefix)+43},
		{"prefix is the token's start", prefix == token[:len(relay.TokenPrefix)+6]},
		{"hash is hex SHA-256", regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(hash)},
		{"hash is HashToken's", hash == relay.HashToken(token)},
		{"pasted white space ignored", relay.HashToken(" "+token+"\n") == hash},
		{"hash is not the token", !strings.Contains(hash, token[len(relay.TokenPrefix):])},
		{"tokens differ", other != token && otherHash != hash},
		{"one character changes the hash", relay.HashToken(token[:len(token)-1]+"!") != hash},
	} {
		if !tt.ok {
			t.Errorf("%s: token %q, hash %q, prefix %q", tt.name, token, hash, prefix)
		}
	}
}
