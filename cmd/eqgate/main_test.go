package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/eqgate/eqgate"
	"github.com/eqgate/eqgate/batchio"
)

// The tests run the real binary, built once by TestMain (with -race when
// the tests run with it, so the process itself is checked too).
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "eqgate-cmd-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "eqgate")
	args := []string{"build", "-o", binary}
	if raceEnabled {
		args = append(args, "-race")
	}
	build := exec.Command(goTool(), append(args, "github.com/eqgate/eqgate/cmd/eqgate")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building eqgate:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(os.Getenv("GOROOT"), "bin", "go")
}

// waitBound bounds every wait in these tests: a hung binary fails the
// test instead of hanging it. It is never a synchronisation delay.
const waitBound = 20 * time.Second

// gate is one running eqgate process.
type gate struct {
	cmd        *exec.Cmd
	udp        string // from the ready line
	shards     int    // of the first port
	shardList  []int  // one per port when ports differ, else one
	metricsURL string
	base       string // http://host:port

	mu     sync.Mutex
	stderr bytes.Buffer
	lines  chan string // stderr lines, for waiting on log records
	exited chan error  // cmd.Wait result
}

var readyRE = regexp.MustCompile(`^eqgate: listening udp (\S+) shards=([\d,]+) handler=(\S+) metrics=(\S+)$`)

// startGate runs the binary on loopback port 0 with extra args and waits
// for its ready line.
func startGate(t *testing.T, args ...string) *gate {
	t.Helper()
	return startGateArgs(t, append([]string{"-listen", "127.0.0.1:0", "-metrics", "127.0.0.1:0", "-log-level", "debug"}, args...)...)
}

// startGateArgs runs the binary with exactly args and waits for its ready
// line.
func startGateArgs(t *testing.T, args ...string) *gate {
	t.Helper()
	g := &gate{lines: make(chan string, 1024), exited: make(chan error, 1)}
	g.cmd = exec.Command(binary, args...)
	stdout, err := g.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := g.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan string, 1)
	var pipes sync.WaitGroup
	pipes.Go(func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case ready <- sc.Text():
			default:
				t.Errorf("second line on stdout: %q", sc.Text())
			}
		}
	})
	pipes.Go(func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			g.mu.Lock()
			g.stderr.WriteString(sc.Text() + "\n")
			g.mu.Unlock()
			select {
			case g.lines <- sc.Text():
			default: // nobody waits for this many lines
			}
		}
	})
	go func() {
		pipes.Wait() // Wait closes the pipes: read them to the end first
		g.exited <- g.cmd.Wait()
	}()
	t.Cleanup(func() {
		if g.cmd.ProcessState == nil {
			_ = g.cmd.Process.Kill() // the test failed before stopping it
			<-g.exited
		}
		if t.Failed() {
			t.Logf("eqgate stderr:\n%s", g.stderrText())
		}
	})

	select {
	case line := <-ready:
		m := readyRE.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("ready line %q does not match %v", line, readyRE)
		}
		g.udp, g.metricsURL = m[1], m[4]
		for _, n := range strings.Split(m[2], ",") {
			k, _ := strconv.Atoi(n)
			g.shardList = append(g.shardList, k)
		}
		g.shards = g.shardList[0]
		g.base = strings.TrimSuffix(g.metricsURL, "/metrics")
	case err := <-g.exited:
		t.Fatalf("eqgate exited before ready: %v\n%s", err, g.stderrText())
	case <-time.After(waitBound):
		t.Fatal("no ready line")
	}
	return g
}

func (g *gate) stderrText() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.stderr.String()
}

// waitLog waits for a stderr line containing every one of subs.
func (g *gate) waitLog(t *testing.T, subs ...string) string {
	t.Helper()
	deadline := time.After(waitBound)
	for {
		select {
		case line := <-g.lines:
			ok := true
			for _, s := range subs {
				ok = ok && strings.Contains(line, s)
			}
			if ok {
				return line
			}
		case <-deadline:
			t.Fatalf("no log line with %q", subs)
		}
	}
}

// client records what a Dial'd session receives.
type client struct {
	mu     sync.Mutex
	got    [4][][]byte
	n, end int
	done   chan struct{} // closed when end messages have arrived
	closed chan eqgate.CloseReason
}

func newClient(want int) *client {
	return &client{end: want, done: make(chan struct{}), closed: make(chan eqgate.CloseReason, 1)}
}

func (c *client) OnOpen(eqgate.Session) {}
func (c *client) OnMessage(_ eqgate.Session, stream int, data []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got[stream] = append(c.got[stream], bytes.Clone(data))
	if c.n++; c.n == c.end {
		close(c.done)
	}
}
func (c *client) OnClose(_ eqgate.Session, r eqgate.CloseReason) { c.closed <- r }

// message k of client cl: a readable header, then filler; some are large
// enough to be fragmented (SPEC §14).
func message(cl, k int) []byte {
	size := 16 + (k*37)%200
	if k%7 == 3 {
		size = 1500
	}
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(i*13 + k + cl)
	}
	copy(b, fmt.Sprintf("c%02d m%03d ", cl, k))
	return b
}

// sample is one line of the Prometheus text format.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

var sampleRE = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$`)
var labelRE = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)

type scrape []sample

func getScrape(t *testing.T, url string) scrape {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	var out scrape
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		m := sampleRE.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("unparsable metrics line %q", line)
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		s := sample{name: m[1], labels: map[string]string{}, value: v}
		for _, l := range labelRE.FindAllStringSubmatch(m[2], -1) {
			s.labels[l[1]] = l[2]
		}
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// sum adds the samples of name whose labels include every k=v in match.
func (s scrape) sum(name string, match ...string) float64 {
	var total float64
next:
	for _, x := range s {
		if x.name != name {
			continue
		}
		for i := 0; i+1 < len(match); i += 2 {
			if x.labels[match[i]] != match[i+1] {
				continue next
			}
		}
		total += x.value
	}
	return total
}

func (s scrape) has(name string) bool {
	for _, x := range s {
		if x.name == name {
			return true
		}
	}
	return false
}

// eqgateSeries is the non-zero eqgate_ part of a scrape, for failure messages.
func eqgateSeries(t *testing.T, url string) string {
	var b strings.Builder
	for _, x := range getScrape(t, url) {
		if strings.HasPrefix(x.name, "eqgate_") && x.value != 0 {
			fmt.Fprintf(&b, "%s%v %v\n", x.name, x.labels, x.value)
		}
	}
	return b.String()
}

func httpStatus(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestServeEchoMetricsDrain is the operator's whole story on loopback:
// start, serve echo sessions from the library client, scrape per-shard
// counters that add up, check health, log totals on SIGHUP, close
// sessions, then SIGTERM: every open session gets a SessionDisconnect and
// the process exits 0 within -drain-timeout.
//
// It runs with steering on and off: off, the kernel's reuseport hash and
// the engine's owner function disagree for about half the clients, so the
// handoff terms of the identity are exercised too.
func TestServeEchoMetricsDrain(t *testing.T) {
	for _, steer := range []bool{true, false} {
		t.Run(fmt.Sprintf("steer=%v", steer), func(t *testing.T) { testServe(t, steer) })
	}
}

func testServe(t *testing.T, steer bool) {
	const (
		clients  = 6
		messages = 24
		drain    = 2 * time.Second
	)
	g := startGate(t, "-shards", "2", "-drain-timeout", drain.String(), "-close-linger", "50ms", fmt.Sprintf("-steer=%v", steer))
	if g.shards != 2 {
		t.Fatalf("ready line says shards=%d, want 2", g.shards)
	}
	if code, body := httpStatus(t, g.base+"/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz = %d %q before any session", code, body)
	}

	// Sessions: every message comes back, in order per stream.
	cfg := eqgate.Config{ConnectStale: waitBound / 2}
	conns := make([]*eqgate.Conn, clients)
	handlers := make([]*client, clients)
	var payload float64
	for cl := range clients {
		handlers[cl] = newClient(messages)
		c, err := eqgate.Dial(g.udp, cfg, handlers[cl])
		if err != nil {
			t.Fatalf("dial %s: %v; server counters:\n%s", g.udp, err, eqgateSeries(t, g.metricsURL))
		}
		conns[cl] = c
		t.Cleanup(func() { _ = c.Close() })
	}
	for cl, c := range conns {
		for k := range messages {
			m := message(cl, k)
			payload += float64(len(m))
			if err := c.Send(k%4, m, true); err != nil {
				t.Fatalf("client %d send %d: %v", cl, k, err)
			}
		}
	}
	for cl, h := range handlers {
		select {
		case <-h.done:
		case <-time.After(waitBound):
			t.Fatalf("client %d: %d of %d echoes", cl, h.n, messages)
		}
		h.mu.Lock()
		for st := range 4 {
			var want [][]byte
			for k := st; k < messages; k += 4 {
				want = append(want, message(cl, k))
			}
			if len(h.got[st]) != len(want) {
				t.Errorf("client %d stream %d: %d echoes, want %d", cl, st, len(h.got[st]), len(want))
				continue
			}
			for i := range want {
				if !bytes.Equal(h.got[st][i], want[i]) {
					t.Errorf("client %d stream %d echo %d differs (%.12q, want %.12q)", cl, st, i, h.got[st][i], want[i])
				}
			}
		}
		h.mu.Unlock()
	}

	// SIGHUP logs totals and keeps serving.
	if err := g.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	g.waitLog(t, "msg=totals", "listen="+g.udp, fmt.Sprintf("sessions_open=%d", clients))

	// Close every session from the client side and wait until the server
	// has seen every SessionDisconnect: after that no client datagram is
	// in flight (each client's socket is closed behind its disconnect).
	// The scrape that sees it is not final yet: the collector reads a
	// shard's outcomes before its received and closed counters, so the
	// shard may process the last datagrams between those reads. A scrape
	// started after it holds final counters.
	for _, c := range conns {
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}
	var sc scrape
	for deadline := time.Now().Add(waitBound); ; {
		sc = getScrape(t, g.metricsURL)
		if sc.sum("eqgate_sessions_open") == 0 && sc.sum("eqgate_sessions_closed_total", "reason", "peer") == clients {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sessions still open after clients closed: open=%v closed(peer)=%v",
				sc.sum("eqgate_sessions_open"), sc.sum("eqgate_sessions_closed_total", "reason", "peer"))
		}
	}
	checkCounters(t, getScrape(t, g.metricsURL), g, clients, payload)

	// Drain: one more session is open at SIGTERM. It keeps working while
	// /healthz says 503 and new sessions are refused, and is told at
	// -drain-timeout.
	last := newClient(1)
	c, err := eqgate.Dial(g.udp, cfg, last)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// The server holds the session once the client has proved its key
	// (its first datagram): an echo says it has.
	if err := c.Send(0, message(99, 0), true); err != nil {
		t.Fatal(err)
	}
	select {
	case <-last.done:
	case <-time.After(waitBound):
		t.Fatal("no echo before SIGTERM")
	}
	if err := g.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	g.waitLog(t, "msg=draining", "timeout="+drain.String())
	if code, _ := httpStatus(t, g.base+"/healthz"); code != http.StatusServiceUnavailable {
		t.Errorf("/healthz = %d while draining", code)
	}
	if err := c.Send(0, message(99, 0), true); err != nil {
		t.Fatal(err)
	}
	select {
	case <-last.done:
	case <-time.After(waitBound):
		t.Fatal("no echo while draining")
	}
	if _, err := eqgate.Dial(g.udp, eqgate.Config{ConnectStale: 300 * time.Millisecond}, newClient(1)); err == nil {
		t.Error("a new session opened while draining")
	}
	select {
	case err := <-g.exited:
		if err != nil {
			t.Fatalf("eqgate exit after SIGTERM: %v", err)
		}
	case <-time.After(drain + waitBound):
		t.Fatalf("eqgate did not exit after SIGTERM within -drain-timeout %v", drain)
	}
	select {
	case r := <-last.closed:
		if r != eqgate.ClosePeer {
			t.Errorf("open session at SIGTERM closed with %v, want %v (SessionDisconnect from the server)", r, eqgate.ClosePeer)
		}
	case <-time.After(waitBound):
		t.Error("open session at SIGTERM was not disconnected")
	}
	for _, want := range []string{"msg=sockets", "rcvbuf_granted=", "msg=draining", "msg=stopped"} {
		if !strings.Contains(g.stderrText(), want) {
			t.Errorf("stderr lacks %q", want)
		}
	}
}

// checkCounters checks a quiet server's per-shard series against the
// traffic the test made and against the engine's outcome identity: every
// received datagram (from the socket or handed over by another shard) is
// counted in exactly one outcome.
func checkCounters(t *testing.T, sc scrape, g *gate, clients int, payload float64) {
	t.Helper()
	for _, x := range sc {
		if !strings.HasPrefix(x.name, "eqgate_") || x.name == "eqgate_echo_send_errors_total" {
			continue // the echo handler is one for all servers
		}
		if x.name == "eqgate_build_info" {
			// One per process: labelled by version, not by server.
			if x.labels["version"] == "" || !strings.HasPrefix(x.labels["goversion"], "go") {
				t.Errorf("eqgate_build_info%v: want version and goversion labels", x.labels)
			}
			continue
		}
		if x.labels["listen"] != g.udp {
			t.Errorf("%s%v: listen label %q, want %q", x.name, x.labels, x.labels["listen"], g.udp)
		}
		if x.labels["shard"] != "0" && x.labels["shard"] != "1" {
			t.Errorf("%s%v: shard label not 0 or 1", x.name, x.labels)
		}
	}
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total", "eqgate_receive_batch_size_bucket", "eqgate_rtt_seconds_count",
		"eqgate_steering_enabled", "eqgate_gso_enabled", "eqgate_socket_buffer_forced"} {
		if !sc.has(name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}

	total := func(name string, match ...string) float64 { return sc.sum(name, match...) }
	for _, name := range []string{"eqgate_socket_receive_buffer_bytes", "eqgate_socket_send_buffer_bytes"} {
		if got := total(name, "shard", "0"); got <= 0 {
			t.Errorf("%s = %v, want the granted size", name, got)
		}
	}
	if got := total("eqgate_sessions_opened_total"); got != float64(clients) {
		t.Errorf("sessions opened = %v, want %d", got, clients)
	}
	if got := total("eqgate_datagrams_dropped_total"); got != 0 {
		t.Errorf("datagrams dropped = %v on clean loopback traffic", got)
	}
	if got := total("eqgate_out_of_session_sent_total"); got != 0 {
		t.Errorf("OutOfSession sent = %v, want 0", got)
	}
	if got := total("eqgate_echo_send_errors_total"); got != 0 {
		t.Errorf("echo send errors = %v", got)
	}
	// Request + messages (maybe combined) + disconnect per client.
	if got := total("eqgate_datagrams_received_total"); got < float64(3*clients) {
		t.Errorf("datagrams received = %v, want at least %d", got, 3*clients)
	}
	// No compression: the wire carries at least the payload both ways.
	if got := total("eqgate_bytes_received_total"); got < payload {
		t.Errorf("bytes received = %v < payload %v", got, payload)
	}
	if got := total("eqgate_bytes_sent_total"); got < payload {
		t.Errorf("bytes sent = %v < echoed payload %v", got, payload)
	}
	if got := total("eqgate_datagrams_sent_total"); got < float64(2*clients) {
		t.Errorf("datagrams sent = %v", got)
	}
	if got := total("eqgate_rtt_seconds_count"); got == 0 {
		t.Error("no RTT samples although clients acknowledged every echo")
	}

	for sh := range g.shards {
		s := strconv.Itoa(sh)
		in := total("eqgate_datagrams_received_total", "shard", s) + total("eqgate_handoffs_received_total", "shard", s)
		if out := total("eqgate_datagrams_total", "shard", s); in != out {
			t.Errorf("shard %s: received %v + handoffs received = %v, but outcomes add up to %v", s,
				total("eqgate_datagrams_received_total", "shard", s), in, out)
		}
		// The named series are outcome buckets under their dashboard names.
		for name, outcome := range map[string]string{
			"eqgate_sessions_opened_total":     "opened",
			"eqgate_out_of_session_sent_total": "out_of_session",
			"eqgate_handoffs_total":            "handoff",
		} {
			if a, b := total(name, "shard", s), total("eqgate_datagrams_total", "shard", s, "outcome", outcome); a != b {
				t.Errorf("shard %s: %s = %v but outcome %q = %v", s, name, a, outcome, b)
			}
		}
		named := total("eqgate_datagrams_total", "shard", s, "outcome", "session") +
			total("eqgate_sessions_opened_total", "shard", s) +
			total("eqgate_out_of_session_sent_total", "shard", s) +
			total("eqgate_session_responses_total", "shard", s) +
			total("eqgate_handoffs_total", "shard", s) +
			total("eqgate_datagrams_dropped_total", "shard", s)
		if in != named {
			t.Errorf("shard %s: %v received but the named outcome series add up to %v", s, in, named)
		}
		if v := total("eqgate_shard_up", "shard", s); v != 1 {
			t.Errorf("shard %s: eqgate_shard_up = %v while serving", s, v)
		}
		// The batch histogram counts the same datagrams from the socket.
		if a, b := total("eqgate_receive_batch_size_sum", "shard", s), total("eqgate_datagrams_received_total", "shard", s); a != b {
			t.Errorf("shard %s: batch size sum %v != datagrams received %v", s, a, b)
		}
		batches := total("eqgate_receive_batch_size_count", "shard", s)
		inf := total("eqgate_receive_batch_size_bucket", "shard", s, "le", "+Inf")
		if batches != inf {
			t.Errorf("shard %s: batch histogram count %v != +Inf bucket %v", s, batches, inf)
		}
		if recv := total("eqgate_datagrams_received_total", "shard", s); recv > 0 && batches == 0 {
			t.Errorf("shard %s: %v datagrams in no batch", s, recv)
		}
		if total("eqgate_sessions_opened_total", "shard", s) > 0 && total("eqgate_datagrams_total", "shard", s, "outcome", "session") == 0 {
			t.Errorf("shard %s opened sessions but passed them nothing", s)
		}
		if v := total("eqgate_sessions_open", "shard", s); v != 0 || math.IsNaN(v) {
			t.Errorf("shard %s: sessions open %v", s, v)
		}
	}
	// Every open session was counted closed once, by one reason.
	if o, c := total("eqgate_sessions_opened_total"), total("eqgate_sessions_closed_total"); o != c {
		t.Errorf("opened %v, closed %v", o, c)
	}
}

// TestStartFailures: bad flags and busy addresses end the process at once
// with one line on stderr naming the problem, a non-zero status, and no
// ready line.
func TestStartFailures(t *testing.T) {
	udp, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	tcp, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	// Another process's SO_REUSEPORT group (this test's), which a
	// reuseport bind would join and silently share traffic with.
	group, err := batchio.Open(netip.MustParseAddrPort("127.0.0.1:0"), batchio.Options{Sockets: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer group.Close()
	held := group.Facts().Addr.String()
	badFile := writeFile(t, "bad.toml", "shards = 1\nbogus = 2\n")
	rangeFile := writeFile(t, "range.toml", "[listener.zones]\nlisten = \"127.0.0.1:0\"\nbatch = 5000\n")

	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     []string // substrings of the one line
	}{
		{"unknown flag", []string{"-bogus"}, 2, []string{"-bogus"}},
		{"bad crc", []string{"-crc-bytes", "3"}, 2, []string{"-crc-bytes", "0, 2 or 4"}},
		{"bad encode", []string{"-encode", "zip"}, 2, []string{"-encode"}},
		{"config range", []string{"-listen", "127.0.0.1:0", "-batch", "5000"}, 2, []string{"Batch", "-batch"}},
		{"udp in use", []string{"-listen", udp.LocalAddr().String(), "-metrics", ""}, 1, []string{udp.LocalAddr().String(), "address already in use"}},
		{"udp held by a reuseport group", []string{"-listen", held, "-metrics", ""}, 1, []string{held, "address already in use"}},
		{"metrics in use", []string{"-listen", "127.0.0.1:0", "-metrics", tcp.Addr().String()}, 1, []string{"metrics", tcp.Addr().String(), "address already in use"}},
		{"bad address", []string{"-listen", "127.0.0.1", "-metrics", ""}, 2, []string{"127.0.0.1", "missing port"}},
		{"config unknown key", []string{"-config", badFile}, 2, []string{"bad.toml:2:", `"bogus"`}},
		{"config out of range", []string{"-config", rangeFile}, 2, []string{"[listener.zones]", "Batch", "key batch in range.toml"}},
		{"config missing", []string{"-config", "/nonexistent.toml"}, 2, []string{"/nonexistent.toml"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, line := runBinary(t, tt.args...)
			if code != tt.wantCode {
				t.Errorf("exit status %d, want %d", code, tt.wantCode)
			}
			if strings.Count(line, "\n") != 1 || !strings.HasPrefix(line, "eqgate: ") {
				t.Errorf("stderr is not one \"eqgate: \" line: %q", line)
			}
			for _, w := range tt.want {
				if !strings.Contains(line, w) {
					t.Errorf("stderr %q does not name %q", line, w)
				}
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing (no ready line)", stdout)
			}
		})
	}
}

// runBinary runs the binary to its exit (bounded by waitBound) and returns
// its status, stdout and stderr.
func runBinary(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(waitBound):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("still running; stdout %q", stdout.String())
	}
	return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
}

// TestHealthzAndPprof: /healthz reports every shard running; pprof is
// served only with -pprof; SIGINT drains like SIGTERM.
func TestHealthzAndPprof(t *testing.T) {
	g := startGate(t, "-pprof", "-shards", "1")
	if code, body := httpStatus(t, g.base+"/healthz"); code != http.StatusOK || !strings.Contains(body, "1 shards running") {
		t.Errorf("/healthz = %d %q", code, body)
	}
	if code, _ := httpStatus(t, g.base+"/debug/pprof/"); code != http.StatusOK {
		t.Errorf("/debug/pprof/ = %d with -pprof", code)
	}
	stopGate(t, g, syscall.SIGINT)

	g = startGate(t)
	if code, _ := httpStatus(t, g.base+"/debug/pprof/"); code != http.StatusNotFound {
		t.Errorf("/debug/pprof/ = %d without -pprof, want 404", code)
	}
}

// TestDashboardUsesRealMetrics: every metric the Grafana dashboard queries
// is one the binary exports, and every per-shard eqgate series it exports
// is plotted.
func TestDashboardUsesRealMetrics(t *testing.T) {
	raw, err := os.ReadFile("../../dashboards/eqgate.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
		Templating struct {
			List []struct{ Definition string }
		}
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("dashboards/eqgate.json: %v", err)
	}
	var exprs []string
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	for _, v := range dash.Templating.List {
		exprs = append(exprs, v.Definition)
	}

	g := startGate(t, "-shards", "1")
	exported := map[string]bool{}
	for _, x := range getScrape(t, g.metricsURL) {
		exported[x.name] = true
	}
	used := map[string]bool{}
	nameRE := regexp.MustCompile(`\b(?:eqgate|go|process)_[a-z_]+\b`)
	for _, e := range exprs {
		for _, name := range nameRE.FindAllString(e, -1) {
			used[name] = true
			if !exported[name] {
				t.Errorf("dashboard queries %s, which /metrics does not export", name)
			}
		}
	}
	for name := range exported {
		base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")
		if !strings.HasPrefix(name, "eqgate_") || name == "eqgate_echo_send_errors_total" {
			continue
		}
		if !used[name] && !used[base+"_sum"] && !used[base+"_count"] && !used[base+"_bucket"] {
			t.Errorf("dashboard does not plot %s", name)
		}
	}
}

// TestSeveralPortsDiscardJSON: repeated -listen gives one server per port,
// named in the ready line and told apart by the listen label; the discard
// handler sends nothing back; -log-format json writes JSON lines.
func TestSeveralPortsDiscardJSON(t *testing.T) {
	g := startGate(t, "-listen", "127.0.0.1:0", "-shards", "1", "-handler", "discard", "-log-format", "json")
	addrs := strings.Split(g.udp, ",")
	if len(addrs) != 2 || addrs[0] == addrs[1] {
		t.Fatalf("ready line addresses %q, want two different ones", g.udp)
	}
	if code, body := httpStatus(t, g.base+"/healthz"); code != http.StatusOK || !strings.Contains(body, "2 shards running") {
		t.Errorf("/healthz = %d %q", code, body)
	}

	h := newClient(1)
	c, err := eqgate.Dial(addrs[1], eqgate.Config{ConnectStale: waitBound / 2}, h)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Send(0, []byte("into the void"), true); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(waitBound); ; {
		sc := getScrape(t, g.metricsURL)
		if sc.sum("eqgate_sessions_closed_total", "listen", addrs[1], "reason", "peer") == 1 {
			// A scrape reads the counters one after another, not as a
			// snapshot: this one may have read the datagram counts before
			// the disconnect that closed the session was counted. One
			// started after the close was seen has everything before it.
			sc = getScrape(t, g.metricsURL)
			if got := sc.sum("eqgate_sessions_opened_total", "listen", addrs[0]); got != 0 {
				t.Errorf("%s opened %v sessions, want 0 (the client dialed %s)", addrs[0], got, addrs[1])
			}
			if got := sc.sum("eqgate_datagrams_total", "listen", addrs[1], "outcome", "session"); got == 0 {
				t.Errorf("%s passed nothing to the session", addrs[1])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("server never saw the session close")
		}
	}
	h.mu.Lock()
	if h.n != 0 {
		t.Errorf("discard handler sent %d messages back", h.n)
	}
	h.mu.Unlock()

	if err := g.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-g.exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-time.After(waitBound):
		t.Fatal("no exit after SIGTERM")
	}
	lines := strings.Split(strings.TrimSpace(g.stderrText()), "\n")
	stopped := 0
	for _, line := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("log line is not JSON: %q", line)
			continue
		}
		if rec["msg"] == "stopped" {
			stopped++
		}
	}
	if stopped != 2 {
		t.Errorf("%d \"stopped\" records, want one per server", stopped)
	}
}
