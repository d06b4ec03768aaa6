package relay

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
)

// TokenPrefix starts every relay token, so that a leaked one is
// recognisable (secret scanners, logs).
const TokenPrefix = "vpdr_"

// NewToken returns a new random relay token (256 bits), its hex SHA-256
// hash, which is all the bot stores, and its display prefix.
func NewToken() (token, hash, prefix string) {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	token = TokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	return token, HashToken(token), token[:len(TokenPrefix)+6]
}

// HashToken returns the hex SHA-256 of a token, as stored in
// vpndiag.RelayToken.Hash.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(strings.TrimSpace(token)))
	return hex.EncodeToString(sum[:])
}
