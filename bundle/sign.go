package bundle

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/vpndiag/vpndiag"
)

// Signing. The checksums in manifest.json prove that nothing changed since
// the manifest was written, but anyone can write a manifest: they prove
// integrity, not origin. A bundle exported with a signing key also holds
// SignatureName, an ed25519 signature of manifest.json's exact bytes (which
// hold the SHA-256 of every other file), so Verify with the deployment's
// public key proves that the bundle, every byte of it, was exported by a
// vpndiag holding the private key.

// SignatureName is the entry that holds the manifest's signature; it is the
// last entry of a signed bundle and not listed in the manifest.
const SignatureName = "manifest.json.sig"

// SignatureAlgorithm is the only algorithm bundles are signed with.
const SignatureAlgorithm = "ed25519"

// signingContext prefixes the signed bytes, so that a bundle signature can
// never be taken for a signature of anything else made with the same key.
const signingContext = "vpndiag-bundle-manifest-v1\n"

// SignatureFile is the content of SignatureName.
type SignatureFile struct {
	// Algorithm is SignatureAlgorithm.
	Algorithm string `json:"algorithm"`
	// KeyID is the signing key's fingerprint, see KeyID.
	KeyID string `json:"key_id"`
	// PublicKey is the signing key's public half, base64: it says which key
	// signed, and proves nothing by itself (Verify checks the signature
	// with the key it is given, not with this one).
	PublicKey string `json:"public_key"`
	// Signed is what was signed: manifest.json.
	Signed string `json:"signed"`
	// Signature is the ed25519 signature, base64.
	Signature string `json:"signature"`
}

// Signature is what Verify found about a bundle's signature.
type Signature struct {
	// Signed is true when the bundle holds a signature.
	Signed bool `json:"signed"`
	// KeyID is the fingerprint of the key the signature names.
	KeyID string `json:"key_id,omitempty"`
	// Checked is true when Verify was given keys to check it with.
	Checked bool `json:"checked"`
	// Valid is true when the signature is one of a given key over this
	// manifest: the bundle's origin is proven.
	Valid bool `json:"valid"`
}

// KeyID returns a public key's fingerprint: "ed25519:" and the first 16
// hex digits of its SHA-256.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return "ed25519:" + hex.EncodeToString(sum[:8])
}

// sign returns the content of SignatureName for manifest.
func sign(key ed25519.PrivateKey, manifest []byte) ([]byte, error) {
	pub, ok := key.Public().(ed25519.PublicKey)
	if !ok || len(key) != ed25519.PrivateKeySize {
		return nil, errors.New("bundle: the signing key is not an ed25519 private key")
	}
	sig := ed25519.Sign(key, append([]byte(signingContext), manifest...))
	b, err := json.MarshalIndent(SignatureFile{
		Algorithm: SignatureAlgorithm, KeyID: KeyID(pub), PublicKey: base64.StdEncoding.EncodeToString(pub),
		Signed: ManifestName, Signature: base64.StdEncoding.EncodeToString(sig),
	}, "", "  ")
	return append(b, '\n'), err
}

// checkSignature checks the signature entry's content against manifest
// with the given keys and records the outcome in rep.
func checkSignature(rep *Report, data, manifest []byte, keys []ed25519.PublicKey) {
	rep.Signature.Signed = true
	var sf SignatureFile
	if err := json.Unmarshal(data, &sf); err != nil {
		rep.add(SignatureName, ProblemBadJSON, "%v", err)
		return
	}
	rep.Signature.KeyID = sf.KeyID
	sig, err := base64.StdEncoding.DecodeString(sf.Signature)
	if sf.Algorithm != SignatureAlgorithm || sf.Signed != ManifestName || err != nil || len(sig) != ed25519.SignatureSize {
		rep.add(SignatureName, ProblemSignature, "not an %s signature of %s", SignatureAlgorithm, ManifestName)
		return
	}
	if len(keys) == 0 {
		return
	}
	msg := append([]byte(signingContext), manifest...)
	var ids []string
	for _, k := range keys {
		if ed25519.Verify(k, msg, sig) {
			rep.Signature.Valid = true
			rep.Signature.KeyID = KeyID(k)
			return
		}
		ids = append(ids, KeyID(k))
	}
	if pub, err := base64.StdEncoding.DecodeString(sf.PublicKey); err == nil && len(pub) == ed25519.PublicKeySize &&
		ed25519.Verify(ed25519.PublicKey(pub), msg, sig) {
		rep.add(SignatureName, ProblemSignature, "signed by key %s, not by %s: the bundle was not exported with your key", KeyID(pub), strings.Join(ids, " or "))
		return
	}
	rep.add(SignatureName, ProblemSignature, "the signature does not match the manifest with key %s: the bundle was changed after it was signed", strings.Join(ids, " or "))
}

// GenerateKey writes a new ed25519 signing key to path (PKCS #8 PEM, mode
// 0600, refusing to replace a file) and its public half to path + ".pub"
// (PKIX PEM), and returns the public key.
func GenerateKey(path string) (ed25519.PublicKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("bundle: generate key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("bundle: encode key: %w", err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("bundle: encode public key: %w", err)
	}
	for _, p := range []string{path, path + ".pub"} {
		if _, err := os.Stat(p); err == nil {
			return nil, vpndiag.Errorf(vpndiag.ECONFLICT, "%s already exists; choose another name (a key is never replaced).", p)
		}
	}
	if err := writeNew(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return nil, err
	}
	if err := writeNew(path+".pub", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o644); err != nil {
		os.Remove(path)
		return nil, err
	}
	return pub, nil
}

// writeNew creates path with data and mode; it fails if path exists.
func writeNew(path string, data []byte, mode fs.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fileError(path, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(mode)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fileError(path, err)
	}
	return nil
}

// ReadSigningKey reads an ed25519 private key from a PEM file (PKCS #8, as
// GenerateKey or `openssl genpkey -algorithm ed25519` write it). A key file
// that others can read is refused: whoever reads it can sign bundles.
func ReadSigningKey(path string) (ed25519.PrivateKey, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, vpndiag.Errorf(vpndiag.EINVALID, "Cannot read the bundle signing key %s: %v.", path, errors.Unwrap(err))
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, vpndiag.Errorf(vpndiag.EINVALID, "The bundle signing key %s can be read by others (mode %v); make it private with chmod 600.", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, vpndiag.Errorf(vpndiag.EINVALID, "Cannot read the bundle signing key %s: %v.", path, errors.Unwrap(err))
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, vpndiag.Errorf(vpndiag.EINVALID, "%s is not a PEM private key (make one with 'vpndiag bundle keygen').", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, vpndiag.Errorf(vpndiag.EINVALID, "%s is not a PKCS #8 private key: %v.", path, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, vpndiag.Errorf(vpndiag.EINVALID, "%s holds a %T, not an ed25519 key.", path, k)
	}
	return priv, nil
}

// ParsePublicKey reads a public key given to `bundle verify --key`: a PEM
// file (PKIX, as GenerateKey writes PATH.pub), a file or string holding
// the base64 key, optionally prefixed "ed25519:".
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	text := s
	if b, err := os.ReadFile(filepath.Clean(s)); err == nil {
		text = string(b)
	}
	if blk, _ := pem.Decode([]byte(text)); blk != nil {
		k, err := x509.ParsePKIXPublicKey(blk.Bytes)
		if err != nil {
			return nil, vpndiag.Errorf(vpndiag.EINVALID, "%s is not a PEM public key: %v.", s, err)
		}
		pub, ok := k.(ed25519.PublicKey)
		if !ok {
			return nil, vpndiag.Errorf(vpndiag.EINVALID, "%s holds a %T, not an ed25519 key.", s, k)
		}
		return pub, nil
	}
	t := strings.TrimPrefix(strings.TrimSpace(text), "ed25519:")
	if b, err := base64.StdEncoding.DecodeString(t); err == nil && len(b) == ed25519.PublicKeySize {
		return ed25519.PublicKey(b), nil
	}
	return nil, vpndiag.Errorf(vpndiag.EINVALID, "%q is neither a public key file nor a base64 ed25519 public key (the .pub file 'vpndiag bundle keygen' wrote).", s)
}
