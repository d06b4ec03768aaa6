package sqlrow

import (
	"fmt"
	"io"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/storage/internal/deflate"
)

// Writer is one store's open read-write transaction, seen by the steps
// that are made of several writes, so that each such step is written once.
// A store implements it over its own transaction type; every method writes
// in that transaction.
type Writer interface {
	// CreateEvidence inserts e, setting ID and CreatedAt, and the
	// compressed stream read from content in chunks.
	CreateEvidence(e *vpndiag.Evidence, content io.Reader) error
	// CreateFindings inserts a case's findings.
	CreateFindings(caseID int64, fs []*vpndiag.Finding) error
	// AppendEvent inserts e with the case's next seq.
	AppendEvent(e *vpndiag.Event) error
	// CreateAnswer inserts a, setting ID and CreatedAt.
	CreateAnswer(a *vpndiag.Answer) error
	// CreateSession inserts the first state of a case's session.
	CreateSession(s *vpndiag.Session) error
	// UpdateCase applies upd to the case and, when withEvent, appends its
	// "case.updated" event.
	UpdateCase(id int64, upd vpndiag.CaseUpdate, withEvent bool) error
}

// Attach writes a's evidence with its compressed content, then the
// findings and the event learnt from it, linked to the stored evidence.
func Attach(w Writer, a *vpndiag.Attachment, content io.Reader) error {
	e := a.Evidence
	if err := w.CreateEvidence(e, content); err != nil {
		return err
	}
	if err := deflate.Link(a); err != nil {
		return err
	}
	if len(a.Findings) > 0 {
		if err := w.CreateFindings(e.CaseID, a.Findings); err != nil {
			return fmt.Errorf("findings: %w", err)
		}
	}
	if ev := a.Event; ev != nil {
		if err := w.AppendEvent(ev); err != nil {
			return fmt.Errorf("event: %w", err)
		}
	}
	return nil
}

// FinishTransition writes what a transition stores besides the session:
// its answer (at FromSeq), its events and its case update. The case update
// appends no event of its own: the transition's events describe it.
func FinishTransition(w Writer, t *vpndiag.Transition) error {
	if a := t.Answer; a != nil {
		a.CaseID, a.Seq = t.CaseID, t.FromSeq
		if err := w.CreateAnswer(a); err != nil {
			return err
		}
	}
	for _, e := range t.Events {
		e.CaseID = t.CaseID
		if err := w.AppendEvent(e); err != nil {
			return err
		}
	}
	if t.Case != nil {
		if err := w.UpdateCase(t.CaseID, *t.Case, false); err != nil {
			return err
		}
	}
	return nil
}

// StartSession writes a case's first session state, the events that start
// it and the case update upd (nil for none) with its event; see
// vpndiag.SessionService.StartSession.
func StartSession(w Writer, s *vpndiag.Session, events []*vpndiag.Event, upd *vpndiag.CaseUpdate) error {
	if err := w.CreateSession(s); err != nil {
		return err
	}
	for _, e := range events {
		e.CaseID = s.CaseID
		if err := w.AppendEvent(e); err != nil {
			return err
		}
	}
	if upd != nil {
		if err := w.UpdateCase(s.CaseID, *upd, true); err != nil {
			return err
		}
	}
	return nil
}
