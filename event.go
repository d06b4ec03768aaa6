package vpndiag

import (
	"context"
	"encoding/json"
	"time"
)

// Event kinds of the case timeline.
const (
	EventCaseCreated    = "case.created"
	EventCaseUpdated    = "case.updated"
	EventStepShown      = "step.shown"
	EventAnswer         = "answer"
	EventProbeRequested = "probe.requested"
	EventProbeResult    = "probe.result"
	EventEvidenceAdded  = "evidence.added"
	EventFinding        = "finding"
	EventResolution     = "resolution"
	EventEscalation     = "escalation"
	EventExport         = "export"
	EventNote           = "note"
	EventContradiction  = "contradiction" // a person's answer and a measurement disagree
	EventReopened       = "step.reopened" // "That's not right" about an automatic answer
	EventBack           = "step.back"     // a person's answer undone
	EventRestart        = "flow.restarted"
	EventFixConfirmed   = "fix.confirmed" // "Did this fix it?" yes
	EventFixFailed      = "fix.failed"    // "Did this fix it?" no
)

// Event is one entry of a case's append-only timeline: everything that
// happened, with who did it and when.
type Event struct {
	// ID is the store's primary key.
	ID int64 `json:"id"`
	// CaseID is the case.
	CaseID int64 `json:"case_id"`
	// Seq numbers a case's events from 1, in the order stored.
	Seq int `json:"seq"`
	// Time is when it happened.
	Time time.Time `json:"time"`
	// Actor is who or what did it: a user ID, "bot", "relay:NAME", "system".
	Actor string `json:"actor"`
	// Kind is one of the Event* constants.
	Kind string `json:"kind"`
	// Message is one line for people.
	Message string `json:"message"`
	// Data is kind-specific detail as JSON.
	Data json.RawMessage `json:"data,omitempty"`
}

// EventService stores the timeline. Events are never changed or deleted.
type EventService interface {
	// AppendEvent stores e, setting ID, Seq and (when zero) Time.
	AppendEvent(ctx context.Context, e *Event) error
	// FindEvents returns a case's events in Seq order.
	FindEvents(ctx context.Context, caseID int64) ([]*Event, error)
}
