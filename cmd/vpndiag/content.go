package main

import (
	"errors"

	"github.com/vpndiag/vpndiag/flows"
	"github.com/vpndiag/vpndiag/kb"
)

// checkContent validates the flows and the kb and returns every problem.
func checkContent() []string {
	probs := kb.Validate()
	if _, err := flows.LoadDefault(); err != nil {
		var p flows.Problems
		if errors.As(err, &p) {
			for _, s := range p {
				probs = append(probs, "flows: "+s)
			}
		} else {
			probs = append(probs, err.Error())
		}
	}
	return probs
}
