package bundle

import (
	"fmt"
	"html/template"
	"math"
	"sort"
	"strings"
	"time"
)

// Sizes of the flow diagram, in SVG user units.
const (
	nodeW   = 190
	nodeH   = 54
	nodeGap = 36  // between nodes of a layer
	layerH  = 116 // from one layer's top to the next
	margin  = 24
)

// esc escapes text for SVG content and attribute values.
func esc(s string) string { return template.HTMLEscapeString(s) }

// flowDiagram renders a flow's graph as an inline SVG in a simple layered
// layout (layer = shortest distance from the start state), with the states
// visited and the transitions taken highlighted and the current state marked.
func flowDiagram(f *flowPart, id int) template.HTML {
	g := f.graph
	if g == nil || len(g.Nodes) == 0 {
		return ""
	}
	index := map[string]int{}
	for i, n := range g.Nodes {
		if _, dup := index[n.State]; !dup {
			index[n.State] = i
		}
	}
	// Layers by breadth-first search from the start state.
	layer := make([]int, len(g.Nodes))
	for i := range layer {
		layer[i] = -1
	}
	out := map[string][]string{}
	for _, e := range g.Edges {
		out[e.From] = append(out[e.From], e.To)
	}
	start, ok := index[g.Start]
	if !ok {
		start = 0
	}
	layer[start] = 0
	queue := []int{start}
	maxLayer := 0
	for len(queue) > 0 {
		i := queue[0]
		queue = queue[1:]
		for _, to := range out[g.Nodes[i].State] {
			j, ok := index[to]
			if ok && layer[j] < 0 {
				layer[j] = layer[i] + 1
				maxLayer = max(maxLayer, layer[j])
				queue = append(queue, j)
			}
		}
	}
	// States the start does not reach go on a last layer of their own.
	for i := range layer {
		if layer[i] < 0 {
			layer[i] = maxLayer + 1
		}
	}
	nLayers := 0
	for _, l := range layer {
		nLayers = max(nLayers, l+1)
	}
	rows := make([][]int, nLayers)
	for i, l := range layer {
		if _, first := index[g.Nodes[i].State]; first && index[g.Nodes[i].State] == i {
			rows[l] = append(rows[l], i)
		}
	}
	// One barycentre pass: order each layer by the mean position of its
	// parents in the layer above, which removes most crossings of a tree-like
	// flow.
	pos := make([]float64, len(g.Nodes))
	in := map[string][]string{}
	for _, e := range g.Edges {
		in[e.To] = append(in[e.To], e.From)
	}
	for l, row := range rows {
		if l > 0 {
			key := make(map[int]float64, len(row))
			for k, i := range row {
				sum, n := 0.0, 0
				for _, from := range in[g.Nodes[i].State] {
					if j, ok := index[from]; ok && layer[j] == l-1 {
						sum += pos[j]
						n++
					}
				}
				key[i] = float64(k) + 1000 // no parent above: keep after the others, in order
				if n > 0 {
					key[i] = sum / float64(n)
				}
			}
			sort.SliceStable(row, func(a, b int) bool { return key[row[a]] < key[row[b]] })
		}
		for k, i := range row {
			pos[i] = float64(k) - float64(len(row)-1)/2
		}
	}
	widest := 1
	for _, row := range rows {
		widest = max(widest, len(row))
	}
	width := margin*2 + widest*nodeW + (widest-1)*nodeGap + 120 // room on the right for back edges
	height := margin*2 + nLayers*layerH                         // room under the last layer for sideways edges
	cx := func(i int) float64 {
		return float64(margin) + float64(widest*nodeW+(widest-1)*nodeGap)/2 + pos[i]*float64(nodeW+nodeGap)
	}
	ty := func(i int) float64 { return float64(margin + layer[i]*layerH) }

	visited := map[string]bool{}
	for _, s := range f.states {
		visited[s] = true
	}
	taken, current := f.taken, f.current

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="flow" viewBox="0 0 %d %d" width="%d" role="img" aria-label="Flow %s v%d">`,
		width, height, width, esc(g.Name), g.Version)
	fmt.Fprintf(&b, `<defs>`+
		`<marker id="fd%d-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerUnits="userSpaceOnUse" markerWidth="10" markerHeight="10" orient="auto-start-reverse"><path d="M0,0L10,5L0,10z" fill="#9aa5b1"/></marker>`+
		`<marker id="fd%d-arrow-on" viewBox="0 0 10 10" refX="9" refY="5" markerUnits="userSpaceOnUse" markerWidth="10" markerHeight="10" orient="auto-start-reverse"><path d="M0,0L10,5L0,10z" fill="#1f6feb"/></marker>`+
		`</defs>`, id, id)

	// Edges, merged per (from, to), untaken first so taken ones draw on top.
	type edge struct {
		from, to int
		labels   []string
		on       bool
	}
	var edges []*edge
	byPair := map[[2]int]*edge{}
	for _, e := range g.Edges {
		i, ok1 := index[e.From]
		j, ok2 := index[e.To]
		if !ok1 || !ok2 {
			continue
		}
		ed := byPair[[2]int{i, j}]
		if ed == nil {
			ed = &edge{from: i, to: j, on: taken[[2]string{e.From, e.To}]}
			byPair[[2]int{i, j}] = ed
			edges = append(edges, ed)
		}
		label := e.Label
		if label == "" {
			label = e.Event
		}
		if label != "" && !contains(ed.labels, label) {
			ed.labels = append(ed.labels, label)
		}
	}
	sort.SliceStable(edges, func(a, b int) bool { return !edges[a].on && edges[b].on })
	var labels strings.Builder
	for _, ed := range edges {
		var d string
		var lx, ly float64
		anchor := "middle"
		x1, x2 := cx(ed.from), cx(ed.to)
		switch {
		case layer[ed.to] > layer[ed.from]:
			// Down: bottom centre to top centre; the label sits in the gap
			// under the source's layer.
			y1, y2 := ty(ed.from)+nodeH, ty(ed.to)
			d = fmt.Sprintf("M%.1f,%.1f C%.1f,%.1f %.1f,%.1f %.1f,%.1f", x1, y1, x1, y1+40, x2, y2-40, x2, y2)
			lx, ly, anchor = x2+5, y2-9, "start"
		case ed.from == ed.to:
			// A loop on the right side.
			xa, y := x1+nodeW/2, ty(ed.from)+nodeH/2
			d = fmt.Sprintf("M%.1f,%.1f C%.1f,%.1f %.1f,%.1f %.1f,%.1f", xa, y-12, xa+34, y-26, xa+34, y+26, xa, y+12)
			lx, ly = xa+24, y-24
		case layer[ed.to] == layer[ed.from]:
			// Sideways: under the layer, bottom to bottom.
			y := ty(ed.from) + nodeH
			dip := y + (layerH-nodeH)*0.7
			d = fmt.Sprintf("M%.1f,%.1f C%.1f,%.1f %.1f,%.1f %.1f,%.1f", x1+20, y, x1+20, dip, x2-20, dip, x2-20, y)
			lx, ly = (x1+x2)/2, y+(layerH-nodeH)*0.55+12
		default:
			// Up: from the source's top right to the target's bottom right,
			// label in the gap above the source.
			xa, y1 := x1+nodeW/4, ty(ed.from)
			xb, y2 := x2+nodeW/4, ty(ed.to)+nodeH
			d = fmt.Sprintf("M%.1f,%.1f C%.1f,%.1f %.1f,%.1f %.1f,%.1f", xa, y1, xa+50, y1-50, xb+50, y2+50, xb, y2)
			lx, ly = xa+30, y1-(layerH-nodeH)*0.35
		}
		cls, mk := "e", "arrow"
		if ed.on {
			cls, mk = "e on", "arrow-on"
		}
		fmt.Fprintf(&b, `<path class="%s" d="%s" marker-end="url(#fd%d-%s)"/>`, cls, d, id, mk)
		if len(ed.labels) > 0 {
			lcls := "el"
			if ed.on {
				lcls = "el on"
			}
			fmt.Fprintf(&labels, `<text class="%s" x="%.1f" y="%.1f" text-anchor="%s">%s</text>`, lcls, lx, ly+4, anchor, esc(truncate(strings.Join(ed.labels, " / "), 30)))
		}
	}
	// Nodes.
	for _, row := range rows {
		for _, i := range row {
			n := g.Nodes[i]
			x, y := cx(i)-nodeW/2, ty(i)
			cls := "n k-" + string(n.Kind)
			if visited[n.State] {
				cls += " on"
			}
			if n.State == current {
				cls += " cur"
			}
			title := n.Title
			if title == "" {
				title = n.State
			}
			fmt.Fprintf(&b, `<g class="%s"><title>%s (%s)</title><rect x="%.1f" y="%.1f" width="%d" height="%d" rx="8"/>`,
				esc(cls), esc(title), esc(n.State), x, y, nodeW, nodeH)
			lines := wrap(title, 28, 2)
			for k, ln := range lines {
				fmt.Fprintf(&b, `<text class="t" x="%.1f" y="%.1f" text-anchor="middle">%s</text>`, x+nodeW/2, y+19+float64(k)*15, esc(ln))
			}
			fmt.Fprintf(&b, `<text class="s" x="%.1f" y="%.1f" text-anchor="middle">%s · %s</text></g>`, x+nodeW/2, y+nodeH-6, esc(truncate(n.State, 22)), esc(string(n.Kind)))
		}
	}
	b.WriteString(labels.String())
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// Sizes of the keep-alive chart.
const (
	chartW     = 960
	chartH     = 240
	chartLeft  = 56
	chartRight = 16
	chartTop   = 16
	lossBand   = 36 // height of the loss bars under the RTT plot
	chartBot   = 28
	maxBuckets = 480
)

// keepaliveChart renders one monitor's samples as an inline SVG: the round
// trip time as a line (mean per time bucket, gaps where nothing came back)
// and the share of lost pings as red bars underneath.
func keepaliveChart(m *keepaliveMonitor) template.HTML {
	if m.n == 0 {
		return ""
	}
	span := m.to.Sub(m.from)
	nb := min(m.n, maxBuckets)
	if span <= 0 {
		nb = 1
	}
	type bucket struct {
		n, lost int
		sum     time.Duration
	}
	buckets := make([]bucket, nb)
	for _, s := range m.samples {
		k := 0
		if span > 0 {
			k = int(float64(s.Time.Sub(m.from)) / float64(span) * float64(nb))
			k = min(max(k, 0), nb-1)
		}
		buckets[k].n++
		if s.OK {
			buckets[k].sum += s.RTT
		} else {
			buckets[k].lost++
		}
	}
	maxMS := float64(m.max) / float64(time.Millisecond)
	top := niceCeil(maxMS)
	plotW := float64(chartW - chartLeft - chartRight)
	plotH := float64(chartH - chartTop - chartBot - lossBand - 8)
	lossTop := float64(chartTop) + plotH + 8
	bx := func(k int) float64 { return float64(chartLeft) + (float64(k)+0.5)*plotW/float64(nb) }
	yv := func(ms float64) float64 { return float64(chartTop) + plotH - ms/top*plotH }

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="ka" viewBox="0 0 %d %d" width="%d" role="img" aria-label="Keep-alive %s">`,
		chartW, chartH, chartW, esc(m.name))
	// Grid and y axis.
	for k := 0; k <= 4; k++ {
		v := top * float64(k) / 4
		y := yv(v)
		fmt.Fprintf(&b, `<line class="grid" x1="%d" y1="%.1f" x2="%d" y2="%.1f"/><text class="ax" x="%d" y="%.1f" text-anchor="end">%s ms</text>`,
			chartLeft, y, chartW-chartRight, y, chartLeft-6, y+4, trimFloat(v))
	}
	fmt.Fprintf(&b, `<rect class="band" x="%d" y="%.1f" width="%.1f" height="%d"/><text class="ax" x="%d" y="%.1f" text-anchor="end">loss</text>`,
		chartLeft, lossTop, plotW, lossBand, chartLeft-6, lossTop+lossBand/2+4)
	// Loss bars.
	bw := math.Max(plotW/float64(nb)-0.5, 1)
	for k, bk := range buckets {
		if bk.lost == 0 {
			continue
		}
		h := float64(lossBand) * float64(bk.lost) / float64(bk.n)
		fmt.Fprintf(&b, `<rect class="loss" x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%d of %d lost</title></rect>`,
			bx(k)-bw/2, lossTop+float64(lossBand)-h, bw, h, bk.lost, bk.n)
	}
	// RTT line, broken where a bucket had no reply.
	var d strings.Builder
	pen := false
	var dots strings.Builder
	for k, bk := range buckets {
		ok := bk.n - bk.lost
		if ok == 0 {
			pen = false
			continue
		}
		ms := float64(bk.sum) / float64(ok) / float64(time.Millisecond)
		cmd := "L"
		if !pen {
			cmd = "M"
		}
		fmt.Fprintf(&d, "%s%.1f,%.1f ", cmd, bx(k), yv(ms))
		if nb <= 120 {
			fmt.Fprintf(&dots, `<circle class="pt" cx="%.1f" cy="%.1f" r="2.5"/>`, bx(k), yv(ms))
		}
		pen = true
	}
	if d.Len() > 0 {
		fmt.Fprintf(&b, `<path class="rtt" d="%s"/>`, strings.TrimSpace(d.String()))
	}
	b.WriteString(dots.String())
	// X axis: start, middle and end times.
	xy := float64(chartH - 8)
	for k, anchor := range []string{"start", "middle", "end"} {
		t := m.from.Add(span * time.Duration(k) / 2)
		x := float64(chartLeft) + plotW*float64(k)/2
		fmt.Fprintf(&b, `<text class="ax" x="%.1f" y="%.1f" text-anchor="%s">%s</text>`, x, xy, anchor, t.UTC().Format("2006-01-02 15:04:05Z"))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten (1 ms at least).
func niceCeil(v float64) float64 {
	if v <= 1 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, f := range []float64{1, 2, 5, 10} {
		if f*p >= v {
			return f * p
		}
	}
	return 10 * p
}

func trimFloat(v float64) string {
	s := fmt.Sprintf("%.2f", v)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// truncate shortens s to n runes with an ellipsis.
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// wrap breaks s into at most lines lines of about width runes, at spaces.
func wrap(s string, width, lines int) []string {
	var out []string
	cur := ""
	words := strings.Fields(s)
	for i, w := range words {
		switch {
		case cur == "":
			cur = w
		case len([]rune(cur))+1+len([]rune(w)) <= width:
			cur += " " + w
		default:
			out = append(out, cur)
			cur = w
			if len(out) == lines-1 {
				cur = strings.Join(words[i:], " ")
				return append(out, truncate(cur, width))
			}
		}
	}
	if cur != "" {
		out = append(out, truncate(cur, width))
	}
	return out
}
