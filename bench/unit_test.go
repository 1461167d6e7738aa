package bench

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestHistogramQuantiles(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	var h Histogram
	vals := make([]int64, 20000)
	for i := range vals {
		// Log-uniform from 50 ns to 1 s: exercises the exact and the log buckets.
		v := int64(50 * math.Exp2(rng.Float64()*24))
		vals[i] = v
		h.Record(time.Duration(v))
	}
	slices.Sort(vals)
	s := h.Snapshot()
	if s.Total != uint64(len(vals)) || s.Max != time.Duration(vals[len(vals)-1]) {
		t.Fatalf("total %d max %v, want %d %v", s.Total, s.Max, len(vals), vals[len(vals)-1])
	}
	for _, q := range []float64{0.01, 0.5, 0.9, 0.99, 0.999} {
		exact := float64(vals[int(q*float64(len(vals))+0.999999)-1])
		got := float64(s.Quantile(q))
		if rel := (got - exact) / exact; rel > 1.0/64 || rel < -1.0/64 {
			t.Errorf("q%v = %v, exact %v (rel err %.4f)", q, got, exact, rel)
		}
	}
	if s.Quantile(1) != s.Max {
		t.Errorf("q1 %v != max %v", s.Quantile(1), s.Max)
	}
}

func TestHistogramBuckets(t *testing.T) {
	for i := range histBuckets - 1 {
		lo, hi := bucketLow(i), bucketHigh(i)
		if bucketOf(lo) != i || bucketOf(hi) != i || bucketLow(i+1) != hi+1 {
			t.Fatalf("bucket %d [%d, %d] does not round-trip", i, lo, hi)
		}
	}
	if bucketOf(-5) != 0 || bucketOf(1<<62) != histBuckets-1 {
		t.Fatal("out-of-range values not clamped")
	}
}

func TestHistogramSub(t *testing.T) {
	var h Histogram
	h.Record(time.Millisecond)
	a := h.Snapshot()
	h.Record(10 * time.Microsecond)
	h.Record(20 * time.Microsecond)
	d := h.Snapshot().Sub(a)
	if d.Total != 2 || d.Max < 20*time.Microsecond || d.Max > 21*time.Microsecond {
		t.Fatalf("delta total %d max %v", d.Total, d.Max)
	}
}

func TestPayloadDetectsEveryBitFlip(t *testing.T) {
	for _, n := range []int{MinPayload, 13, 19, 20, 64, 200} {
		b := buildPayload(make([]byte, n), 7, 2, 99, n)
		h, ok := parseHeader(b)
		if !ok || h.session != 7 || h.stream != 2 || h.seq != 99 || !fillOK(b, h) {
			t.Fatalf("n=%d: round trip failed: %+v %v", n, h, ok)
		}
		for bit := range n * 8 {
			c := bytes.Clone(b)
			c[bit/8] ^= 1 << (bit % 8)
			h2, ok := parseHeader(c)
			if ok && h2 == h && fillOK(c, h2) {
				t.Fatalf("n=%d: flip of bit %d not detected", n, bit)
			}
		}
	}
	b := buildPayload(make([]byte, 64), 1, 0, 1, 64)
	if _, ok := parseHeader(b[:63]); ok {
		t.Fatal("truncated payload accepted")
	}
}

func TestParseSizes(t *testing.T) {
	tests := []struct {
		name, in string
		want     Sizes
		err      bool
	}{
		{"single", "64", Sizes{{64, 64, 1}}, false},
		{"list", "16,32", Sizes{{16, 16, 1}, {32, 32, 1}}, false},
		{"weighted ranges", "16-200*95, 1024-4096*5", Sizes{{16, 200, 95}, {1024, 4096, 5}}, false},
		{"too small", "8", nil, true},
		{"reversed", "200-16", nil, true},
		{"bad weight", "64*0", nil, true},
		{"empty", "", nil, true},
		{"junk", "abc", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSizes(tt.in)
			if tt.err {
				if !errors.Is(err, ErrBadSizes) {
					t.Fatalf("err %v, want ErrBadSizes", err)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Fatalf("got %v %v, want %v", got, err, tt.want)
			}
			if again, _ := ParseSizes(got.String()); !slices.Equal(again, got) {
				t.Fatalf("String %q does not round-trip", got.String())
			}
		})
	}
	s := Sizes{{16, 200, 95}, {1024, 4096, 5}}
	big := 0
	for i := range 10000 {
		n := s.pick(splitmixAt(uint64(i)))
		if n < 16 || n > 4096 || (n > 200 && n < 1024) {
			t.Fatalf("pick %d outside the classes", n)
		}
		if n >= 1024 {
			big++
		}
	}
	if big < 300 || big > 700 {
		t.Fatalf("%d of 10000 picks large, want about 500", big)
	}
}

func TestImpairmentDecide(t *testing.T) {
	im := Impairment{Loss: 0.1, Dup: 0.1, Reorder: 0.1, Corrupt: 0.1, Delay: time.Millisecond}
	pkt := []byte{0x00, 0x09, 1, 2, 3, 4}
	run := func() []verdict {
		rng := rand.New(rand.NewPCG(42, 0))
		var out []verdict
		for range 2000 {
			out = append(out, im.decide(rng, pkt))
		}
		return out
	}
	a, b := run(), run()
	if !slices.Equal(a, b) {
		t.Fatal("same seed, different verdicts")
	}
	var drop, dup, reo, cor int
	for _, v := range a {
		if v.drop {
			drop++
			continue
		}
		if v.copies == 2 {
			dup++
		}
		if v.reordered {
			reo++
			if v.delay != time.Millisecond+ReorderHold {
				t.Fatalf("reordered delay %v", v.delay)
			}
		}
		if v.corrupt >= 0 {
			cor++
			if v.corrupt >= len(pkt)*8 {
				t.Fatalf("corrupt bit %d outside the packet", v.corrupt)
			}
		}
	}
	for name, n := range map[string]int{"drop": drop, "dup": dup, "reorder": reo, "corrupt": cor} {
		if n < 120 || n > 280 {
			t.Errorf("%s: %d of 2000, want about 200 (10%%, of those not dropped for the rest)", name, n)
		}
	}
	rng := rand.New(rand.NewPCG(1, 1))
	all := Impairment{Corrupt: 1}
	for _, hs := range [][]byte{{0, 1, 0, 0, 0, 3}, {0, 2, 1, 2}, {0, 0x1d, 0, 0}} {
		if v := all.decide(rng, hs); v.corrupt >= 0 {
			t.Fatalf("CRC-less packet %x corrupted", hs)
		}
	}
}

func TestParseProcStat(t *testing.T) {
	line := "1234 (a (weird) name) S 1 1234 1234 0 -1 4194560 1000 0 0 0 250 75 0 0 20 0 12 0 100 0 0"
	d, err := parseProcStat([]byte(line))
	if err != nil || d != 3250*time.Millisecond {
		t.Fatalf("got %v %v, want 3.25s", d, err)
	}
	if _, err := parseProcStat([]byte("1234 (x) S 1 2")); !errors.Is(err, ErrProcStat) {
		t.Fatalf("short line: %v", err)
	}
	if r, err := (ProcCPU{}).Read(); err != nil || r.CPU < 0 {
		t.Fatalf("own /proc/self/stat: %v %v", r, err)
	}
}

func TestParseMetrics(t *testing.T) {
	page := `# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.
# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total 12.5
eqgate_resends_total{shard="0"} 3
eqgate_resends_total{shard="1"} 4
eqgate_datagrams_dropped_total{reason="a b",shard="0"} 9
`
	r, err := parseMetrics(strings.NewReader(page))
	if err != nil || r.CPU != 12500*time.Millisecond || r.Resends != 7 || !r.HasResends {
		t.Fatalf("got %+v %v", r, err)
	}
	if _, err := parseMetrics(strings.NewReader("up 1\n")); !errors.Is(err, ErrNoMetric) {
		t.Fatalf("missing metric: %v", err)
	}
}

func TestSummaryAndHTML(t *testing.T) {
	var h Histogram
	for i := range 1000 {
		h.Record(time.Duration(50+i) * time.Microsecond)
	}
	res := &Result{Sessions: 2, Connected: 2, Start: time.Now(), Reliable: true, Sizes: "64"}
	res.Samples = []Sample{{Phase: "run", T: 1, SentPerSec: 10, EchoedPerSec: 10, P50Us: 100, P99Us: 900, MaxUs: 1000}}
	snap := h.Snapshot()
	res.Latency = summarize(snap)
	res.Histogram = histBins(snap)
	sum := res.Summary()
	keys := []string{"sessions=2", "connected=2", "sent=", "echoed=", "lost=", "dup=", "corrupt=", "msgs_per_s=", "p50_us=", "p99_us=", "p999_us=", "resends=", "server_cpu_ns_per_msg= "}
	for _, k := range keys {
		if !strings.Contains(sum, k) {
			t.Errorf("summary lacks %q: %s", k, sum)
		}
	}
	if strings.Contains(sum, "\n") || !strings.HasSuffix(sum, "ok=true") {
		t.Errorf("summary not one line ending ok=true: %s", sum)
	}
	res.Lost = 1
	res.HasServerCPU, res.ServerCPUNsPerMsg, res.Samples[0].ServerCPUNsPerMsg = true, 1500, 1500
	if res.OK() || !strings.HasSuffix(res.Summary(), "ok=false") {
		t.Error("a lost message still OK")
	}
	var b bytes.Buffer
	if err := WriteHTML(&b, res); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	if n := strings.Count(page, "<svg"); n != 4 || !strings.Contains(page, "FAILED") || strings.Contains(page, "<script") {
		t.Fatalf("page has %d plots (want 4), verdict or scripts wrong", n)
	}
}

// A quantile never exceeds the largest value recorded, even when that value
// sits low in a wide bucket whose midpoint is above it.
func TestHistogramQuantileBoundedByMax(t *testing.T) {
	var h Histogram
	for range 98 {
		h.Record(time.Microsecond)
	}
	// Twice the low edge of the bucket holding ~4.4 ms, whose midpoint lies
	// above it: q0.99 then falls in that bucket without being the last rank.
	top := time.Duration(bucketLow(bucketOf(int64(4414 * time.Microsecond))))
	h.Record(top)
	h.Record(top)
	s := h.Snapshot()
	for _, q := range []float64{0.99, 0.999, 1} {
		if got := s.Quantile(q); got > s.Max {
			t.Errorf("q%v = %v > max %v", q, got, s.Max)
		}
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
	var h Histogram
	for i := range 33000 { // one tall bin, the case that overflowed
		h.Record(time.Duration(500+i%40) * time.Microsecond)
	}
	for i := range 3000 {
		h.Record(time.Duration(100+i) * time.Microsecond)
	}
	snap := h.Snapshot()
	res := &Result{Sessions: 1, Connected: 1, Start: time.Now(), Reliable: true, Sizes: "64", Latency: summarize(snap), Histogram: histBins(snap)}
	for i := range 8 {
		res.Samples = append(res.Samples, Sample{Phase: "run", T: float64(i + 1), SentPerSec: 19995 + float64(i), EchoedPerSec: 19990, P50Us: 500, P99Us: 1700, MaxUs: 4100})
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
