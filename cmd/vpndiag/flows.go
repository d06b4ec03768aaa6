package main

import (
	"context"
	"fmt"
)

func (m *Main) runFlows(ctx context.Context, args []string) error {
	fs := m.flagSet("flows", "list | show NAME | render NAME --format mermaid|dot", `List, show and render the diagnosis flows.`)
	if err := parse(fs, args); err != nil {
		return err
	}
	return fmt.Errorf("flows: the flows are not built yet")
}
