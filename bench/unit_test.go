package bench

import (
	"bytes"
	"compress/flate"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eqgate/eqgate"
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
	for _, fill := range []Fill{FillRandom, FillGame} {
		for _, n := range []int{MinPayload, 13, 19, 20, 64, 200} {
			b := buildPayload(make([]byte, n), fill, 7, 2, 99, n)
			h, ok := parseHeader(b)
			if !ok || h.fill != fill || h.session != 7 || h.stream != 2 || h.seq != 99 || !fillOK(b, h) {
				t.Fatalf("%v n=%d: round trip failed: %+v %v", fill, n, h, ok)
			}
			for bit := range n * 8 {
				c := bytes.Clone(b)
				c[bit/8] ^= 1 << (bit % 8)
				h2, ok := parseHeader(c)
				if ok && h2 == h && fillOK(c, h2) {
					t.Fatalf("%v n=%d: flip of bit %d not detected", fill, n, bit)
				}
			}
		}
	}
	b := buildPayload(make([]byte, 64), FillRandom, 1, 0, 1, 64)
	if _, ok := parseHeader(b[:63]); ok {
		t.Fatal("truncated payload accepted")
	}
}

// TestFillCompresses checks what the fills are for: random does not
// deflate, game deflates to 0.5-0.7.
func TestFillCompresses(t *testing.T) {
	ratio := func(fill Fill) float64 {
		var in, out int
		for seq := range uint32(100) {
			p := buildPayload(make([]byte, 200), fill, 3, 0, seq, 200)
			var z bytes.Buffer
			w, _ := flate.NewWriter(&z, flate.BestSpeed)
			_, _ = w.Write(p)
			_ = w.Close()
			in, out = in+len(p), out+z.Len()
		}
		return float64(out) / float64(in)
	}
	if r := ratio(FillRandom); r < 0.98 {
		t.Errorf("random fill deflates to %.2f, want incompressible", r)
	}
	if r := ratio(FillGame); r < 0.35 || r > 0.75 {
		t.Errorf("game fill deflates to %.2f, want 0.35-0.75", r)
	}
	for _, s := range []string{"random", "game"} {
		if f, ok := ParseFill(s); !ok || f.String() != s {
			t.Errorf("ParseFill(%q) = %v, %v", s, f, ok)
		}
	}
	if _, ok := ParseFill("zeros"); ok {
		t.Error("ParseFill accepted an unknown fill")
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

func TestSummary(t *testing.T) {
	var h Histogram
	for i := range 1000 {
		h.Record(time.Duration(50+i) * time.Microsecond)
	}
	res := &Result{Sessions: 2, Connected: 2, Start: time.Now(), Reliable: true, Sizes: "64"}
	res.Samples = []Sample{{Phase: "run", T: 1, SentPerSec: 10, EchoedPerSec: 10, P50Us: 100, P99Us: 900, MaxUs: 1000}}
	snap := h.Snapshot()
	res.Latency = Summarize(snap)
	res.Histogram = HistBins(snap)
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
}

// A result records where it was measured, and it survives the JSON round
// trip the reports are compared through.
func TestResultEnv(t *testing.T) {
	srv := startEcho(t, &echoHandler{})
	cmd := []string{"eqbench", "-count", "5", srv.Addr().String()}
	res := runOK(t, Options{Target: srv.Addr().String(), Count: 5, Command: cmd})
	e := res.Env
	if strings.Join(e.Command, " ") != strings.Join(cmd, " ") || e.Version != eqgate.Version() || e.GoVersion != runtime.Version() ||
		e.Cores != runtime.NumCPU() || e.OS != runtime.GOOS || e.Arch != runtime.GOARCH {
		t.Fatalf("Env = %+v", e)
	}
	if runtime.GOOS == "linux" && e.Kernel == "" {
		t.Error("no kernel release on Linux")
	}
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var back Result
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Env, e) {
		t.Errorf("JSON round trip: %+v, want %+v", back.Env, e)
	}
	for _, key := range []string{`"command"`, `"eqgate_version"`, `"go_version"`, `"cores"`, `"kernel"`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("JSON lacks %s", key)
		}
	}
}

// TestBurstSlots: rate mode's scheduler pumps each session once per period,
// never before its burst is due and at most a slot (plus the caller's lag)
// after; a caller that falls several periods behind pumps each session once,
// not once per missed period.
func TestBurstSlots(t *testing.T) {
	for _, period := range []int64{int64(time.Second / 3), int64(5 * time.Second), int64(300 * time.Microsecond)} {
		rng := rand.New(rand.NewPCG(uint64(period), 3))
		conns := make([]*session, 997)
		for i := range conns {
			conns[i] = &session{phase: rng.Int64N(period)}
		}
		const t0 = int64(12345)
		b := newBurstSlots(conns, period, t0)
		pumps := make([][]int64, len(conns)) // per session: the times it was pumped
		now := t0
		step := func(now int64) {
			b.due(now, func(i int32) { pumps[i] = append(pumps[i], now) })
		}
		const revs = 4
		lag := min(int64(time.Millisecond), period/4) // the caller's ticks
		for now < t0+revs*period {
			now += rng.Int64N(lag) + 1
			step(now)
		}
		for i, ps := range pumps {
			due := t0 + conns[i].phase
			if len(ps) < revs-1 || len(ps) > revs+1 {
				t.Fatalf("period %v: session %d pumped %d times in %d periods", time.Duration(period), i, len(ps), revs)
			}
			for j, at := range ps {
				want := due + int64(j)*period
				if at < want || at > want+b.tick+lag {
					t.Fatalf("period %v: session %d pump %d at %d, due %d (slot %d ns)", time.Duration(period), i, j, at, want, b.tick)
				}
			}
		}
		// Ten periods late: one pump each.
		for i := range pumps {
			pumps[i] = pumps[i][:0]
		}
		now += 10 * period
		step(now)
		for i, ps := range pumps {
			if len(ps) != 1 {
				t.Fatalf("period %v: ten periods late, session %d pumped %d times, want 1", time.Duration(period), i, len(ps))
			}
		}
	}
}

// TestCloseChunks: the end of a run closes a chunk of sessions per tick,
// every one exactly once, so the server's socket never gets every
// SessionDisconnect at once.
func TestCloseChunks(t *testing.T) {
	chunk := closeChunk(closeRate)
	n := 2*chunk + chunk/2
	closed := make([]int, n)
	count := 0
	var atWait []int // sessions closed when each wait began
	closeChunks(n, chunk, func() { atWait = append(atWait, count) }, func(i int) { closed[i]++; count++ })
	if !slices.Equal(atWait, []int{chunk, 2 * chunk}) {
		t.Fatalf("closed before each wait: %v, want [%d %d]", atWait, chunk, 2*chunk)
	}
	for i, c := range closed {
		if c != 1 {
			t.Fatalf("session %d closed %d times", i, c)
		}
	}
	atWait = nil
	closeChunks(chunk, chunk, func() { atWait = append(atWait, count) }, func(int) {})
	if len(atWait) != 0 {
		t.Fatalf("a run of %d sessions waited %d times", chunk, len(atWait))
	}
}
