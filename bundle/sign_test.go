package bundle_test

import (
	"bytes"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vpndiag/vpndiag/bundle"
)

// TestSign signs a bundle with a generated key and verifies it with the
// right key (origin proven), without a key (integrity only), with another
// key, after a change and re-signing by an attacker, and unsigned with a
// key given.
func TestSign(t *testing.T) {
	dir := t.TempDir()
	keyPath := filepath.Join(dir, "bundle.key")
	pub, err := bundle.GenerateKey(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(keyPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi.Mode(), err)
	}
	if _, err := bundle.GenerateKey(keyPath); err == nil {
		t.Fatal("GenerateKey replaced an existing key")
	}
	priv, err := bundle.ReadSigningKey(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	if pp, err := bundle.ParsePublicKey(keyPath + ".pub"); err != nil || !pp.Equal(pub) {
		t.Fatalf("ParsePublicKey(.pub): %v", err)
	}
	_, otherPriv, _ := ed25519.GenerateKey(nil)
	otherPub := otherPriv.Public().(ed25519.PublicKey)

	db := MustOpenDB(t)
	MustSeedCase(t, db, smallSeed())
	x := NewExporter(db)
	unsigned := MustExport(t, x, marker)
	x.SigningKey = priv
	signed := MustExport(t, x, marker)
	x.SigningKey = otherPriv
	forged := MustExport(t, x, marker)
	// An attacker changes a file, fixes the manifest and signs it again
	// with their own key.
	changed := rezip(t, signed, func(name string, b []byte) []byte {
		if name == "summary.md" {
			return bytes.ReplaceAll(b, []byte("tunnel"), []byte("TUNNEL"))
		}
		return b
	}, nil, true)

	verify := func(data []byte, keys ...ed25519.PublicKey) *bundle.Report {
		t.Helper()
		rep, err := bundle.VerifyWith(bytes.NewReader(data), int64(len(data)), bundle.VerifyOptions{Keys: keys})
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	if rep := verify(signed, pub); !rep.OK() || !rep.Signature.Valid || rep.Signature.KeyID != bundle.KeyID(pub) {
		t.Errorf("signed, right key: %+v", rep)
	}
	if rep := verify(signed, otherPub, pub); !rep.OK() || !rep.Signature.Valid {
		t.Errorf("signed, one of two keys: %+v", rep)
	}
	if rep := verify(signed); !rep.OK() || !rep.Signature.Signed || rep.Signature.Checked || rep.Signature.Valid {
		t.Errorf("signed, no key: %+v", rep)
	}
	if rep := verify(unsigned); !rep.OK() || rep.Signature.Signed {
		t.Errorf("unsigned, no key: %+v", rep)
	}
	for name, tt := range map[string]struct {
		data []byte
		want string
	}{
		"unsigned":         {unsigned, "not signed"},
		"another key":      {forged, "not by " + bundle.KeyID(pub)},
		"changed":          {changed, "signature"},
		"signature edited": {editSignature(t, signed), "does not match"},
	} {
		rep := verify(tt.data, pub)
		if rep.OK() || rep.Signature.Valid || !strings.Contains(problems(rep), tt.want) {
			t.Errorf("%s: want a problem %q, got %s", name, tt.want, problems(rep))
		}
	}
	// A key others can read is refused.
	os.Chmod(keyPath, 0o644)
	if _, err := bundle.ReadSigningKey(keyPath); err == nil {
		t.Error("a world-readable signing key was accepted")
	}
}

func problems(rep *bundle.Report) string {
	var b strings.Builder
	for _, p := range rep.Problems {
		b.WriteString(p.String() + "; ")
	}
	return b.String()
}

// editSignature flips one byte of the signature.
func editSignature(t *testing.T, data []byte) []byte {
	return rezip(t, data, func(name string, b []byte) []byte {
		if name != bundle.SignatureName {
			return b
		}
		i := bytes.Index(b, []byte(`"signature": "`)) + len(`"signature": "`)
		c := append([]byte(nil), b...)
		if c[i] == 'A' {
			c[i] = 'B'
		} else {
			c[i] = 'A'
		}
		return c
	}, nil, false)
}
