package main

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/vpndiag/vpndiag/bundle"
)

// keyList is a repeatable --key flag.
type keyList []ed25519.PublicKey

func (k *keyList) String() string { return fmt.Sprint(len(*k)) }

func (k *keyList) Set(s string) error {
	pub, err := bundle.ParsePublicKey(s)
	if err != nil {
		return err
	}
	*k = append(*k, pub)
	return nil
}

func (m *Main) runBundle(ctx context.Context, args []string) error {
	if len(args) > 0 && args[0] == "keygen" {
		return m.runBundleKeygen(args[1:])
	}
	fs := m.flagSet("bundle", "verify FILE [--key KEY.pub]... [--json] | keygen FILE", `
Verify a support bundle: that it is a readable zip, that manifest.json
follows the schema, that every file it lists is there with its size and
SHA-256 (any changed byte is found), that nothing was added, that the JSON
files parse and that every file carries the case marker. Each problem is
printed with the file it is about; the exit status is 1 when there is any.

Without --key this proves integrity only: anyone can write a bundle whose
manifest matches. With --key (the .pub file of the deployment's signing
key, or its base64), the bundle must be signed by that key, which proves
it was exported by that deployment and not changed since.

'vpndiag bundle keygen FILE' makes a signing key: FILE (private, 0600; set
it as bundle.signing_key in the config) and FILE.pub (give it to whoever
verifies bundles).`)
	asJSON := fs.Bool("json", false, "print the report as JSON")
	var keys keyList
	fs.Var(&keys, "key", "public key whose signature proves the bundle's origin (a .pub file or base64; repeatable)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 || pos[0] != "verify" {
		return usageError("bundle: the commands are 'vpndiag bundle verify FILE' and 'vpndiag bundle keygen FILE'")
	}
	if len(pos) != 2 {
		return usageError("bundle verify: give one bundle file, e.g. vpndiag bundle verify VPN-20261125-7KQ2-bundle.zip")
	}
	file := pos[1]
	rep, err := bundle.VerifyFileWith(file, bundle.VerifyOptions{Keys: keys})
	if err != nil {
		return err
	}
	if *asJSON {
		if err := m.printJSON(rep); err != nil {
			return err
		}
		return rep.Err()
	}
	for _, p := range rep.Problems {
		fmt.Fprintf(m.Stdout, "%s: %s\n", file, p)
	}
	if rep.MoreProblems > 0 {
		fmt.Fprintf(m.Stdout, "%s: … and %d more problems\n", file, rep.MoreProblems)
	}
	if rep.OK() {
		state := ""
		if rep.InProgress {
			state = ", case in progress when exported"
		}
		fmt.Fprintf(m.Stdout, "%s: ok: bundle of case %s exported %s, %d files, %s verified%s\n",
			file, rep.Case, rep.CreatedAt.UTC().Format("2006-01-02 15:04:05Z"), rep.Files+1, humanBytes(rep.Bytes), state)
		fmt.Fprintf(m.Stdout, "%s: %s\n", file, originText(rep.Signature))
	}
	return rep.Err()
}

// originText says what a sound bundle's check proves about where it came
// from.
func originText(s bundle.Signature) string {
	switch {
	case s.Valid:
		return fmt.Sprintf("origin: signed by %s, the key given: exported by that deployment and unchanged since", s.KeyID)
	case s.Signed:
		return fmt.Sprintf("integrity only: signed by %s, not checked (give its public key with --key to prove the bundle's origin)", s.KeyID)
	}
	return "integrity only: the files match the manifest, but the bundle is not signed, so this does not prove who wrote it"
}

func (m *Main) runBundleKeygen(args []string) error {
	fs := m.flagSet("bundle keygen", "FILE", `
Make an ed25519 key that signs support bundles: FILE holds the private key
(PEM, mode 0600: set it as bundle.signing_key in the config, or in
VPNDIAG_BUNDLE_SIGNING_KEY) and FILE.pub the public key (give it to whoever
checks bundles with 'vpndiag bundle verify --key FILE.pub'). An existing
file is never replaced.`)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError("bundle keygen: give the key file to write, e.g. vpndiag bundle keygen /etc/vpndiag/bundle.key")
	}
	pub, err := bundle.GenerateKey(pos[0])
	if err != nil {
		return err
	}
	fmt.Fprintf(m.Stdout, "bundle signing key %s written to %s (private, 0600) and %s.pub\n", bundle.KeyID(pub), pos[0], pos[0])
	fmt.Fprintf(m.Stdout, "public key: ed25519:%s\n", base64.StdEncoding.EncodeToString(pub))
	fmt.Fprintf(m.Stdout, "config:\n  bundle:\n    signing_key: %s\n", strings.ReplaceAll(pos[0], `"`, `\"`))
	return nil
}
