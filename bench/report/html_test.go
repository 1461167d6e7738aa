package report

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eqgate/eqgate/bench"
)

// A failed run's page says so, with its four plots and no scripts.
func TestHTMLPage(t *testing.T) {
	var h bench.Histogram
	for i := range 1000 {
		h.Record(time.Duration(50+i) * time.Microsecond)
	}
	res := &bench.Result{Sessions: 2, Connected: 2, Start: time.Now(), Reliable: true, Sizes: "64"}
	res.Samples = []bench.Sample{{Phase: "run", T: 1, SentPerSec: 10, EchoedPerSec: 10, P50Us: 100, P99Us: 900, MaxUs: 1000}}
	snap := h.Snapshot()
	res.Latency = bench.Summarize(snap)
	res.Histogram = bench.HistBins(snap)
	res.Lost = 1
	res.Env = bench.Env{Command: []string{"eqbench", "-count", "5", "x:1"}, Version: "v9.9.9", GoVersion: "go1.99", OS: "linux", Arch: "amd64", Cores: 3, Kernel: "6.1.0-test"}
	res.HasServerCPU, res.ServerCPUNsPerMsg, res.Samples[0].ServerCPUNsPerMsg = true, 1500, 1500
	var b bytes.Buffer
	if err := WriteHTML(&b, res); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, want := range []string{"eqbench -count 5", "eqgate v9.9.9", "go1.99", "3 cores", "kernel 6.1.0-test"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q (command line and environment)", want)
		}
	}
	if n := strings.Count(page, "<svg"); n != 4 || !strings.Contains(page, "FAILED") || strings.Contains(page, "<script") {
		t.Fatalf("page has %d plots (want 4), verdict or scripts wrong", n)
	}
}

// Ticks cover the range they are asked for: a chart scaled to the last tick
// keeps its largest value inside the plot (a histogram of 33 k in its top
// bin once got a 30 k top tick and a bar through the frame).
func TestNiceTicksCover(t *testing.T) {
	for _, hi := range []float64{0.3, 1, 7, 10, 19995 * 1.05, 33000 * 1.05, 34650, 99999, 1e6 + 1} {
		ticks := niceTicks(0, hi, 5)
		if len(ticks) < 2 || ticks[0] != 0 {
			t.Fatalf("niceTicks(0, %v) = %v: want several, from 0", hi, ticks)
		}
		if last := ticks[len(ticks)-1]; last < hi {
			t.Errorf("niceTicks(0, %v) ends at %v, below the range", hi, last)
		}
		if step := ticks[1] - ticks[0]; ticks[len(ticks)-1]-step >= hi {
			t.Errorf("niceTicks(0, %v) = %v: a whole step past the range", hi, ticks)
		}
	}
}

// Every bar of the histogram and every point of the line charts lies inside
// its plot frame.
func TestHTMLShapesInsideFrame(t *testing.T) {
	var h bench.Histogram
	for i := range 33000 { // one tall bin, the case that overflowed
		h.Record(time.Duration(500+i%40) * time.Microsecond)
	}
	for i := range 3000 {
		h.Record(time.Duration(100+i) * time.Microsecond)
	}
	snap := h.Snapshot()
	res := &bench.Result{Sessions: 1, Connected: 1, Start: time.Now(), Reliable: true, Sizes: "64", Latency: bench.Summarize(snap), Histogram: bench.HistBins(snap)}
	for i := range 8 {
		res.Samples = append(res.Samples, bench.Sample{Phase: "run", T: float64(i + 1), SentPerSec: 19995 + float64(i), EchoedPerSec: 19990, P50Us: 500, P99Us: 1700, MaxUs: 4100})
	}
	var b bytes.Buffer
	if err := WriteHTML(&b, res); err != nil {
		t.Fatal(err)
	}
	num := func(attr, s string) float64 {
		i := strings.Index(s, attr+`="`)
		if i < 0 {
			t.Fatalf("no %s in %s", attr, s)
		}
		s = s[i+len(attr)+2:]
		v, err := strconv.ParseFloat(s[:strings.IndexByte(s, '"')], 64)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	const eps = 0.05
	page := b.String()
	bars := 0
	for _, el := range strings.Split(page, "<rect ")[1:] {
		if !strings.Contains(el, `fill="#1f77b4"`) || strings.Contains(el, `width="10" height="10"`) {
			continue // frames and legend swatches
		}
		bars++
		if y := num("y", el); y < padT-eps || y+num("height", el) > padT+plotH+eps {
			t.Errorf("bar outside the frame: %s", el[:min(len(el), 80)])
		}
	}
	if bars == 0 {
		t.Fatal("no histogram bars")
	}
	for _, el := range strings.Split(page, "<polyline ")[1:] {
		pts := el[strings.Index(el, `points="`)+8:]
		for xy := range strings.FieldsSeq(pts[:strings.IndexByte(pts, '"')]) {
			_, ys, _ := strings.Cut(xy, ",")
			if y, _ := strconv.ParseFloat(ys, 64); y < padT-eps || y > padT+plotH+eps {
				t.Errorf("line point %s outside the frame", xy)
			}
		}
	}
}
