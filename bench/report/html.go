package report

import (
	"bufio"
	"html"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/eqgate/eqgate/bench"
)

// WriteHTML writes a self-contained HTML page for r: the summary table and
// inline SVG plots of throughput and latency over time, the latency
// histogram, and the server's CPU per message over time. No scripts, no
// external resources.
func WriteHTML(w io.Writer, r *bench.Result) error {
	bw := bufio.NewWriter(w)
	name := r.Scenario
	if name == "" {
		name = "custom"
	}
	title := "eqbench " + name + " → " + r.Target
	p := func(s ...string) {
		for _, x := range s {
			bw.WriteString(x)
		}
	}
	p(`<!doctype html><html><head><meta charset="utf-8"><title>`, html.EscapeString(title), `</title><style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px auto;max-width:1100px;color:#222}
h1{font-size:20px}h2{font-size:16px;margin-top:28px}
table{border-collapse:collapse}td,th{padding:3px 10px;border-bottom:1px solid #ddd;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.ok{color:#070;font-weight:bold}.bad{color:#b00;font-weight:bold}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:16px}
svg{background:#fff;border:1px solid #ddd}
code{font-size:12px;word-break:break-all}
</style></head><body>`)
	p(`<h1>`, html.EscapeString(title), `</h1>`)
	verdict := `<span class="ok">OK: every message echoed once, intact and in order</span>`
	if !r.OK() {
		verdict = `<span class="bad">FAILED: lost, duplicated, corrupted or reordered echoes, or sessions that failed</span>`
	}
	p(`<p>`, verdict, `</p>`)
	p(`<p>`, html.EscapeString(r.Start.Format("2006-01-02 15:04:05 MST")), `</p>`)
	p(`<p>`, html.EscapeString(r.Env.String()), `</p>`)
	if len(r.Env.Command) > 0 {
		p(`<p><code>`, html.EscapeString(strings.Join(r.Env.Command, " ")), `</code></p>`)
	}

	f := func(v float64, prec int) string { return strconv.FormatFloat(v, 'f', prec, 64) }
	u := func(v uint64) string { return strconv.FormatUint(v, 10) }
	rows := [][2]string{
		{"sessions", itoa(r.Connected) + " / " + itoa(r.Sessions) + " connected, " + itoa(r.SessionsDropped) + " dropped mid-run"},
		{"load", itoa(r.Streams) + " streams, sizes " + r.Sizes + ", window " + itoa(r.Window) + ", " + bench.RateString(r.Rate, r.Burst) + map[bool]string{true: ", reliable", false: ", unreliable"}[r.Reliable] + ", " + r.Fill + " fill"},
		{"impairment", r.Impair.String()},
		{"handshake", "p50 " + f(r.Handshake.P50Us/1e3, 2) + " ms, p99 " + f(r.Handshake.P99Us/1e3, 2) + " ms, max " + f(r.Handshake.MaxUs/1e3, 2) + " ms"},
		{"messages", u(r.Sent) + " sent, " + u(r.Echoed) + " echoed, " + u(r.Lost) + " lost, " + u(r.Dup) + " dup, " + u(r.Corrupt) + " corrupt, " + u(r.Misorder) + " out of order in " + f(r.ElapsedS, 2) + " s"},
		{"throughput out", f(r.SentPerSec, 0) + " msg/s, " + f(r.BytesOutPerSec/1e6, 2) + " MB/s"},
		{"throughput in", f(r.MsgsPerSec, 0) + " msg/s, " + f(r.BytesInPerSec/1e6, 2) + " MB/s"},
		{"latency", "p50 " + f(r.Latency.P50Us, 1) + " µs, p90 " + f(r.Latency.P90Us, 1) + " µs, p99 " + f(r.Latency.P99Us, 1) + " µs, p99.9 " + f(r.Latency.P999Us, 1) + " µs, max " + f(r.Latency.MaxUs, 1) + " µs"},
		{"resends", "client " + u(r.Resends) + map[bool]string{true: ", server " + u(r.ServerResends), false: ""}[r.HasServerResends]},
	}
	switch {
	case r.HasServerCPU:
		rows = append(rows, [2]string{"server CPU", f(r.ServerCPUS, 3) + " s, " + f(r.ServerCPUNsPerMsg, 0) + " ns per echoed message"})
	case r.ServerCPUError != "":
		rows = append(rows, [2]string{"server CPU", "unavailable: " + r.ServerCPUError})
	default:
		rows = append(rows, [2]string{"server CPU", "no source given (-server-metrics or -server-pid)"})
	}
	rows = append(rows, [2]string{"client CPU", f(r.ClientCPU.Seconds(), 3) + " s, " + f(r.ClientCPUNsPerMsg, 0) + " ns per echoed message"})
	if r.Proxy != nil {
		rows = append(rows, [2]string{"proxy", r.Proxy.String()})
	}
	if r.Flood != nil {
		rows = append(rows, [2]string{"flood", r.Flood.String()})
	}
	p(`<table>`)
	for _, row := range rows {
		p(`<tr><th>`, html.EscapeString(row[0]), `</th><td>`, html.EscapeString(row[1]), `</td></tr>`)
	}
	p(`</table>`)

	var ts []float64
	var sent, echoed, p50, p99, mx, cpu []float64
	for _, s := range r.Samples {
		ts = append(ts, s.T)
		sent = append(sent, s.SentPerSec)
		echoed = append(echoed, s.EchoedPerSec)
		p50 = append(p50, s.P50Us)
		p99 = append(p99, s.P99Us)
		mx = append(mx, s.MaxUs)
		cpu = append(cpu, s.ServerCPUNsPerMsg)
	}
	p(`<div class="grid">`)
	p(`<div><h2>Throughput</h2>`, lineChart("messages per second", ts, []series{{"sent", "#1f77b4", sent}, {"echoed", "#2ca02c", echoed}}, false), `</div>`)
	p(`<div><h2>Latency over time</h2>`, lineChart("µs (log)", ts, []series{{"p50", "#2ca02c", p50}, {"p99", "#ff7f0e", p99}, {"max", "#d62728", mx}}, true), `</div>`)
	p(`<div><h2>Latency histogram</h2>`, histChart(r), `</div>`)
	if r.HasServerCPU {
		p(`<div><h2>Server CPU per message</h2>`, lineChart("ns per echoed message", ts, []series{{"server CPU", "#9467bd", cpu}}, false), `</div>`)
	} else {
		p(`<div><h2>Server CPU per message</h2><p>No server CPU source was given.</p></div>`)
	}
	p(`</div>`)
	p(`<h2>Summary line</h2><p><code>`, html.EscapeString(r.Summary()), `</code></p>`)
	p(`</body></html>`, "\n")
	return bw.Flush()
}

type series struct {
	name, color string
	ys          []float64
}

const (
	chartW, chartH               = 520, 300
	padL, padR, padT, padB       = 64, 12, 28, 36
	plotW, plotH                 = chartW - padL - padR, chartH - padT - padB
	fontAttrs                    = ` font-family="sans-serif" font-size="11"`
	axisColor, gridColor, txtCol = "#444", "#eee", "#333"
)

func fm(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// niceTicks returns about n round tick values covering [lo, hi]: the last
// is at or above hi, so a chart scaled to it keeps every value inside.
func niceTicks(lo, hi float64, n int) []float64 {
	if hi <= lo {
		hi = lo + 1
	}
	raw := (hi - lo) / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	var out []float64
	for i := math.Ceil(lo / step); ; i++ {
		v := i * step // a multiple, not a running sum: no drift
		out = append(out, v)
		if v >= hi-step/1e9 {
			return out
		}
	}
}

func shortNum(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1e9:
		return strconv.FormatFloat(v/1e9, 'g', 3, 64) + "G"
	case a >= 1e6:
		return strconv.FormatFloat(v/1e6, 'g', 3, 64) + "M"
	case a >= 1e3:
		return strconv.FormatFloat(v/1e3, 'g', 3, 64) + "k"
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

// lineChart plots series over xs (seconds).
func lineChart(ylabel string, xs []float64, ss []series, logY bool) string {
	var b strings.Builder
	b.WriteString(`<svg xmlns="http://www.w3.org/2000/svg" width="` + itoa(chartW) + `" height="` + itoa(chartH) + `"` + fontAttrs + `>`)
	if len(xs) == 0 {
		b.WriteString(`<text x="` + itoa(chartW/2) + `" y="` + itoa(chartH/2) + `" text-anchor="middle" fill="#888">no samples (run shorter than one interval)</text></svg>`)
		return b.String()
	}
	xmax := xs[len(xs)-1]
	ymin, ymax := math.Inf(1), 0.0
	for _, s := range ss {
		for _, y := range s.ys {
			if logY && y <= 0 {
				continue
			}
			ymax = max(ymax, y)
			ymin = min(ymin, y)
		}
	}
	if ymax <= 0 {
		ymax = 1
	}
	var ymap func(float64) float64
	var ticks []float64
	if logY {
		lo := math.Floor(math.Log10(max(ymin, 1e-3)))
		hi := math.Ceil(math.Log10(ymax))
		if hi <= lo {
			hi = lo + 1
		}
		ymap = func(y float64) float64 {
			return padT + plotH - (math.Log10(max(y, math.Pow(10, lo)))-lo)/(hi-lo)*plotH
		}
		for e := lo; e <= hi; e++ {
			ticks = append(ticks, math.Pow(10, e))
		}
	} else {
		ticks = niceTicks(0, ymax*1.05, 5)
		top := ticks[len(ticks)-1]
		ymap = func(y float64) float64 { return padT + plotH - y/top*plotH }
	}
	xmap := func(x float64) float64 {
		if xmax <= 0 {
			return padL
		}
		return padL + x/xmax*plotW
	}
	for _, t := range ticks {
		y := fm(ymap(t))
		b.WriteString(`<line x1="` + itoa(padL) + `" x2="` + itoa(padL+plotW) + `" y1="` + y + `" y2="` + y + `" stroke="` + gridColor + `"/>`)
		b.WriteString(`<text x="` + itoa(padL-4) + `" y="` + y + `" dy="4" text-anchor="end" fill="` + txtCol + `">` + shortNum(t) + `</text>`)
	}
	for _, t := range niceTicks(0, xmax, 6) {
		x := fm(xmap(t))
		b.WriteString(`<text x="` + x + `" y="` + itoa(padT+plotH+14) + `" text-anchor="middle" fill="` + txtCol + `">` + shortNum(t) + `</text>`)
	}
	b.WriteString(`<text x="` + itoa(padL+plotW/2) + `" y="` + itoa(chartH-4) + `" text-anchor="middle" fill="` + txtCol + `">seconds</text>`)
	b.WriteString(`<text x="12" y="` + itoa(padT+plotH/2) + `" text-anchor="middle" transform="rotate(-90 12 ` + itoa(padT+plotH/2) + `)" fill="` + txtCol + `">` + html.EscapeString(ylabel) + `</text>`)
	b.WriteString(`<rect x="` + itoa(padL) + `" y="` + itoa(padT) + `" width="` + itoa(plotW) + `" height="` + itoa(plotH) + `" fill="none" stroke="` + axisColor + `"/>`)
	lx := padL + 6
	for _, s := range ss {
		var pts strings.Builder
		for i, y := range s.ys {
			if i >= len(xs) || (logY && y <= 0) {
				continue
			}
			pts.WriteString(fm(xmap(xs[i])) + "," + fm(ymap(y)) + " ")
		}
		b.WriteString(`<polyline fill="none" stroke="` + s.color + `" stroke-width="1.6" points="` + pts.String() + `"/>`)
		if len(s.ys) == 1 {
			b.WriteString(`<circle cx="` + fm(xmap(xs[0])) + `" cy="` + fm(ymap(s.ys[0])) + `" r="3" fill="` + s.color + `"/>`)
		}
		b.WriteString(`<rect x="` + itoa(lx) + `" y="8" width="10" height="10" fill="` + s.color + `"/><text x="` + itoa(lx+14) + `" y="17" fill="` + txtCol + `">` + html.EscapeString(s.name) + `</text>`)
		lx += 20 + 7*len(s.name) + 10
	}
	b.WriteString(`</svg>`)
	return b.String()
}

// histChart draws the latency histogram on a log time axis, 10 bins per
// decade, with markers at p50, p99 and p99.9.
func histChart(r *bench.Result) string {
	var b strings.Builder
	b.WriteString(`<svg xmlns="http://www.w3.org/2000/svg" width="` + itoa(chartW) + `" height="` + itoa(chartH) + `"` + fontAttrs + `>`)
	if len(r.Histogram) == 0 {
		b.WriteString(`<text x="` + itoa(chartW/2) + `" y="` + itoa(chartH/2) + `" text-anchor="middle" fill="#888">no echoes</text></svg>`)
		return b.String()
	}
	const perDecade = 10
	lo := math.Floor(math.Log10(max(r.Histogram[0].LoUs, 0.1)))
	hi := math.Ceil(math.Log10(max(r.Latency.MaxUs, r.Histogram[len(r.Histogram)-1].LoUs, 1)))
	if hi <= lo {
		hi = lo + 1
	}
	nb := int((hi - lo) * perDecade)
	bins := make([]uint64, nb)
	for _, h := range r.Histogram {
		mid := max((h.LoUs+min(h.HiUs, r.Latency.MaxUs*2))/2, h.LoUs, 0.1)
		i := int((math.Log10(mid) - lo) * perDecade)
		bins[min(max(i, 0), nb-1)] += h.Count
	}
	var top uint64 = 1
	for _, c := range bins {
		top = max(top, c)
	}
	xmap := func(v float64) float64 { return padL + (math.Log10(max(v, 1e-3))-lo)/(hi-lo)*plotW }
	yt := niceTicks(0, float64(top)*1.05, 5)
	ytop := yt[len(yt)-1]
	ymap := func(c float64) float64 { return padT + plotH - c/ytop*plotH }
	for _, t := range yt {
		y := fm(ymap(t))
		b.WriteString(`<line x1="` + itoa(padL) + `" x2="` + itoa(padL+plotW) + `" y1="` + y + `" y2="` + y + `" stroke="` + gridColor + `"/>`)
		b.WriteString(`<text x="` + itoa(padL-4) + `" y="` + y + `" dy="4" text-anchor="end" fill="` + txtCol + `">` + shortNum(t) + `</text>`)
	}
	bw := float64(plotW) / float64(nb)
	for i, c := range bins {
		if c == 0 {
			continue
		}
		y := ymap(float64(c))
		b.WriteString(`<rect x="` + fm(padL+float64(i)*bw+0.5) + `" y="` + fm(y) + `" width="` + fm(max(bw-1, 0.5)) + `" height="` + fm(padT+plotH-y) + `" fill="#1f77b4"/>`)
	}
	for e := lo; e <= hi; e++ {
		v := math.Pow(10, e)
		b.WriteString(`<text x="` + fm(xmap(v)) + `" y="` + itoa(padT+plotH+14) + `" text-anchor="middle" fill="` + txtCol + `">` + shortNum(v) + `</text>`)
	}
	lastLabel, lastRow := math.Inf(-1), 0
	for _, m := range []struct {
		name, color string
		v           float64
	}{{"p50", "#2ca02c", r.Latency.P50Us}, {"p99", "#ff7f0e", r.Latency.P99Us}, {"p99.9", "#d62728", r.Latency.P999Us}} {
		xv := xmap(m.v)
		x := fm(xv)
		// A label closer than its width to the previous one goes on the
		// row above, so p99 and p99.9 stay readable when they are near.
		ly := padT - 4
		if xv-lastLabel < 34 && lastRow == ly {
			ly = padT - 16
		}
		lastLabel, lastRow = xv, ly
		b.WriteString(`<line x1="` + x + `" x2="` + x + `" y1="` + itoa(padT) + `" y2="` + itoa(padT+plotH) + `" stroke="` + m.color + `" stroke-dasharray="4 3"/>`)
		b.WriteString(`<text x="` + x + `" y="` + itoa(ly) + `" text-anchor="middle" fill="` + m.color + `">` + m.name + `</text>`)
	}
	b.WriteString(`<text x="` + itoa(padL+plotW/2) + `" y="` + itoa(chartH-4) + `" text-anchor="middle" fill="` + txtCol + `">echo latency, µs (log)</text>`)
	b.WriteString(`<text x="12" y="` + itoa(padT+plotH/2) + `" text-anchor="middle" transform="rotate(-90 12 ` + itoa(padT+plotH/2) + `)" fill="` + txtCol + `">messages</text>`)
	b.WriteString(`<rect x="` + itoa(padL) + `" y="` + itoa(padT) + `" width="` + itoa(plotW) + `" height="` + itoa(plotH) + `" fill="none" stroke="` + axisColor + `"/>`)
	b.WriteString(`</svg>`)
	return b.String()
}

func itoa(v int) string { return strconv.Itoa(v) }
