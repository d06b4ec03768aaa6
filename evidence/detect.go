package evidence

import (
	"io"
	"strings"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/evidence/config"
	"github.com/vpndiag/vpndiag/evidence/logs"
	"github.com/vpndiag/vpndiag/evidence/redact"
	"github.com/vpndiag/vpndiag/evidence/status"
)

// detection is what the start of a text is: SA status output, a
// configuration, a log of a known family, or none of them (kind other).
type detection struct {
	kind vpndiag.EvidenceKind
	// format is the status format, the best configuration format or the
	// log family; empty for kind other.
	format string
	// cands are the configuration formats the text could be, best first.
	cands []config.Candidate
	// family is the log family, when the text reads as one.
	family string
}

// detect is the one detection of what a text is, from its (redacted)
// head: Attach and Recognise both use it.
func detect(head []byte) detection {
	cands := config.Detect(string(head))
	fam, famScore := logs.DetectFamily(head)
	sfmt, sScore := status.Detect(string(head))
	isStatus := sScore >= 4 && sScore >= famScore && (len(cands) == 0 || sScore >= cands[0].Score)
	isConfig := !isStatus && len(cands) > 0 && (fam == "" || cands[0].Score >= 6 && cands[0].Score >= 2*famScore)
	d := detection{kind: vpndiag.EvidenceOther, cands: cands, family: fam}
	switch {
	case isStatus:
		d.kind, d.format = vpndiag.EvidenceStatus, sfmt
	case isConfig:
		d.kind, d.format = vpndiag.EvidenceConfig, cands[0].Format
	case fam != "":
		d.kind, d.format = vpndiag.EvidenceLog, fam
	}
	return d
}

// Recognised is what Recognise makes of a short text.
type Recognised struct {
	// Kind is config, log or status when the text is device evidence
	// Attach would analyse; other when it is not (a typed sentence).
	Kind vpndiag.EvidenceKind
	// Format is the detected format or log family; empty for other.
	Format string
	// Secrets counts the values redaction would replace (pre-shared
	// keys, passwords, SA keys), whatever the kind.
	Secrets int
}

// Recognise says whether a short text (a message pasted in a chat) is a
// configuration, a log or SA status output, with the same redaction and
// detection Attach applies to a file, and whether it contains secrets. It
// stores nothing; a chat intake hands a recognised text to Attach.
func Recognise(text string) Recognised {
	red := redact.New(redact.Options{})
	keys := redact.NewSAKeyReader(redact.NewReader(strings.NewReader(text), red))
	redacted, _ := io.ReadAll(io.LimitReader(keys, headSize)) // reading a string cannot fail
	_, _ = io.Copy(io.Discard, keys)
	d := detect(redacted)
	return Recognised{Kind: d.kind, Format: d.format, Secrets: red.Count() + keys.Count()}
}
