package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"

	"github.com/vpndiag/vpndiag/bundle"
)

func (m *Main) runBundle(ctx context.Context, args []string) error {
	fs := m.flagSet("bundle", "verify FILE [--json]", `
Verify a support bundle: that it is a readable zip, that manifest.json
follows the schema, that every file it lists is there with its size and
SHA-256 (any changed byte is found), that nothing was added, that the JSON
files parse and that every file carries the case marker. Each problem is
printed with the file it is about; the exit status is 1 when there is any.`)
	asJSON := fs.Bool("json", false, "print the report as JSON")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 || pos[0] != "verify" {
		return usageError("bundle: the command is 'vpndiag bundle verify FILE'")
	}
	if len(pos) != 2 {
		return usageError("bundle verify: give one bundle file, e.g. vpndiag bundle verify VPN-20261125-7KQ2-bundle.zip")
	}
	file := pos[1]
	rep, err := bundle.VerifyFile(file)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(m.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
		return rep.Err()
	}
	for _, p := range rep.Problems {
		fmt.Fprintf(m.Stdout, "%s: %s\n", file, p)
	}
	if rep.OK() {
		state := ""
		if rep.InProgress {
			state = ", case in progress when exported"
		}
		fmt.Fprintf(m.Stdout, "%s: ok: bundle of case %s exported %s, %d files, %s verified%s\n",
			file, rep.Case, rep.CreatedAt.UTC().Format("2006-01-02 15:04:05Z"), rep.Files+1, humanBytes(rep.Bytes), state)
	}
	return rep.Err()
}

// parseInterspersed parses flags that may come before, between or after the
// positional arguments (vpndiag export CASE -o FILE) and returns the
// positional arguments; "--" ends the flags.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := parse(fs, args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}
