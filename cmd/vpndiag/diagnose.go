package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/flows"
	"github.com/vpndiag/vpndiag/flows/terminal"
	"github.com/vpndiag/vpndiag/probes"
)

func (m *Main) runDiagnose(ctx context.Context, args []string) error {
	fs := m.flagSet("diagnose", "[--db FILE] [--site NAME|FILE.yaml] [--answers FILE] [--format json] [--case MARKER] [--flow NAME] [--evidence FILE…]", `
Walk a case through the troubleshooting flows in this terminal: numbered
choices, typed values checked, probes run locally, everything stored in a
local SQLite file as it is answered. Stop at any prompt (Ctrl-D) and run
again with --case to continue at the same question.

Non-interactive: --answers FILE, or answers piped on stdin, one a line: a
choice's number, its key or the start of its label; a typed value; a file
path or "skip" for uploads.`)
	dbOpts := dbFlags(fs)
	answers := fs.String("answers", "", "read answers from FILE instead of the terminal")
	format := fs.String("format", "text", "output: text, or json (the path taken and the outcome on stdout; the conversation on stderr)")
	caseMarker := fs.String("case", "", "resume the case with this marker")
	site := fs.String("site", "", "site profile: a saved profile's name (or one from the config), or a YAML file to save and use")
	flow := fs.String("flow", "", "start a new case with this flow instead of triage (see vpndiag flows list)")
	migrate := fs.Bool("migrate", false, "with --case: move the case to the current flow version when its own is gone")
	manual := fs.Bool("manual-probes", false, "do not run probes here: show the commands and ask for their result")
	var evidenceFiles stringList
	fs.Var(&evidenceFiles, "evidence", "attach a device config or log FILE to the case at the start (repeatable; also FILE… after the flags)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 && len(evidenceFiles) == 0 {
		return usageError(fmt.Sprintf("diagnose: unexpected argument %q (to attach files, use --evidence FILE…)", fs.Arg(0)))
	}
	evidenceFiles = append(evidenceFiles, fs.Args()...)
	if err := checkFormat("diagnose", *format); err != nil {
		return err
	}
	if *migrate && *caseMarker == "" {
		return usageError("diagnose: --migrate needs --case")
	}
	cfg, err := m.loadConfigDB(dbOpts)
	if err != nil {
		return err
	}

	in, interactive := m.Stdin, isTerminal(m.Stdin)
	if *answers != "" {
		f, err := os.Open(*answers)
		if err != nil {
			return vpndiag.Errorf(vpndiag.EINVALID, "Cannot read the answers file %s: %v.", *answers, errors.Unwrap(err))
		}
		defer f.Close()
		in, interactive = f, false
	}
	db, err := m.openDB(ctx, cfg.DB, cfg.Evidence.MaxUploadBytes)
	if err != nil {
		return err
	}
	svc := db.flowServices()
	// A site named in the config is saved so the runner finds it by name.
	if cs := configSite(cfg, *site); cs != nil {
		s := *cs
		if err := svc.Sites.UpsertSite(ctx, &s); err != nil {
			return err
		}
	}

	out := m.Stdout
	if *format == "json" {
		out = m.Stderr
	}
	r := &terminal.Runner{
		Engine: flows.NewEngine(nil, svc), Services: svc,
		In: in, Out: out, Interactive: interactive, Actor: m.actor(),
	}
	if !*manual {
		r.Prober = &probes.Local{Logger: m.logger(cfg)}
	}
	intake := newEvidenceIntake(db, cfg.Evidence.MaxUploadBytes)
	r.Attach = func(ctx context.Context, caseID int64, path string) ([]*vpndiag.Finding, error) {
		f, err := os.Open(path)
		if err != nil {
			return nil, vpndiag.Errorf(vpndiag.EINVALID, "Cannot read %s: %v.", path, errors.Unwrap(err))
		}
		defer f.Close()
		rep, err := intake.attach(ctx, caseID, path, f, m.actor())
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(out, "  %s: %s, %d secret(s) redacted before storing\n", rep.Name, orUnknown(rep.Format), rep.Redactions)
		return rep.Findings, nil
	}
	hint := ""
	if dbOpts.db != "" {
		hint = " --db " + dbOpts.db
	}
	res, err := r.Run(ctx, terminal.Options{Case: *caseMarker, Flow: *flow, Site: *site, Migrate: *migrate, ResumeHint: hint, Evidence: evidenceFiles})
	if err != nil {
		return err
	}
	if *format == "json" {
		return m.printJSON(res)
	}
	return nil
}

// actor names the person at the terminal.
func (m *Main) actor() string {
	for _, k := range []string{"USER", "LOGNAME", "USERNAME"} {
		if v := m.Getenv(k); v != "" {
			return v
		}
	}
	return "terminal"
}

// isTerminal reports whether r is a character device (a terminal).
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

// Set appends one value.
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }
