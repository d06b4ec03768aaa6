package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/vpndiag/vpndiag/flows"
)

func (m *Main) runFlows(ctx context.Context, args []string) error {
	fs := m.flagSet("flows", "list | show NAME | render NAME [--format mermaid|dot]", `
List the diagnosis flows, show one flow's states and transitions, or render
its diagram (Mermaid or Graphviz DOT) on stdout.`)
	format := fs.String("format", "", "list, show: text (default) or json; render: mermaid (default) or dot")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usageError("flows: give list, show NAME or render NAME")
	}
	set := flows.Default()
	switch pos[0] {
	case "list":
		if len(pos) != 1 {
			return usageError("flows list: takes no argument")
		}
		return m.flowsList(set, *format)
	case "show", "render":
		if len(pos) != 2 {
			return usageError(fmt.Sprintf("flows %s: give one flow name (see vpndiag flows list)", pos[0]))
		}
		def, err := set.Current(pos[1])
		if err != nil {
			return err
		}
		if pos[0] == "show" {
			return m.flowsShow(def, *format)
		}
		switch *format {
		case "", "mermaid":
			fmt.Fprint(m.Stdout, flows.RenderMermaid(def.Graph(), nil))
		case "dot":
			fmt.Fprint(m.Stdout, flows.RenderDOT(def.Graph(), nil))
		default:
			return usageError(fmt.Sprintf("flows render: --format %q must be mermaid or dot", *format))
		}
		return nil
	}
	return usageError(fmt.Sprintf("flows: unknown action %q; give list, show NAME or render NAME", pos[0]))
}

// flowSummary is one line of `flows list --format json`.
type flowSummary struct {
	Name    string      `json:"name"`
	Version int         `json:"version"`
	Title   string      `json:"title"`
	Guide   []string    `json:"guide"`
	Stats   flows.Stats `json:"stats"`
}

func (m *Main) flowsList(set *flows.Set, format string) error {
	var list []flowSummary
	for _, name := range set.Names() {
		def, _ := set.Current(name)
		list = append(list, flowSummary{def.Name, def.Version, def.Title, def.Guide, flows.Count(def.Graph())})
	}
	switch format {
	case "json":
		return m.printJSON(list)
	case "", "text":
		tw := tabwriter.NewWriter(m.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "FLOW\tVERSION\tSTATES\tEVENTS\tENDS\tWHAT IT DIAGNOSES")
		for _, f := range list {
			fmt.Fprintf(tw, "%s\tv%d\t%d\t%d\t%d\t%s\n", f.Name, f.Version, f.Stats.States, f.Stats.Events, f.Stats.Resolutions+f.Stats.Escalations, f.Title)
		}
		return tw.Flush()
	}
	return usageError(fmt.Sprintf("flows list: --format %q must be text or json", format))
}

func (m *Main) flowsShow(def *flows.Def, format string) error {
	g := def.Graph()
	switch format {
	case "json":
		return m.printJSON(g)
	case "", "text":
	default:
		return usageError(fmt.Sprintf("flows show: --format %q must be text or json", format))
	}
	w := m.Stdout
	fmt.Fprintf(w, "%s v%d: %s\nGuide: %s\nStart: %s\n", def.Name, def.Version, def.Title, strings.Join(def.Guide, "; "), def.Start)
	for _, n := range g.Nodes {
		if n.Kind == flows.KindHandover {
			continue
		}
		fmt.Fprintf(w, "\n%s (%s): %s\n", n.State, n.Kind, n.Title)
		if n.KBArticle != "" {
			fmt.Fprintf(w, "  kb: %s\n", n.KBArticle)
		}
		for _, e := range g.Edges {
			if e.From == n.State {
				label := e.Label
				if label == "" {
					label = e.Event
				}
				fmt.Fprintf(w, "  %-16s → %-22s %s\n", e.Event, e.To, label)
			}
		}
	}
	s := flows.Count(g)
	fmt.Fprintf(w, "\n%d states, %d transitions, %d resolutions, %d escalations\n", s.States, s.Events, s.Resolutions, s.Escalations)
	return nil
}
