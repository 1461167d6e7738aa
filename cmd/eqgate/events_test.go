package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/eqgate/eqgate"
	"github.com/eqgate/eqgate/relay"
)

// TestRuntimeEventsJSON: refusals by a cap are logged while serving, one
// line per interval with the count since the last; in JSON every listen
// is a string and durations are seconds.
func TestRuntimeEventsJSON(t *testing.T) {
	g := startGate(t, "-shards", "1", "-max-sessions-per-ip", "1", "-log-every", "100ms", "-log-format", "json")
	ready := g.waitLog(t, `"msg":"ready"`)
	var rec map[string]any
	if err := json.Unmarshal([]byte(ready), &rec); err != nil {
		t.Fatal(err)
	}
	if _, ok := rec["listen"].(string); !ok {
		t.Errorf("ready: listen is %T, want a string: %s", rec["listen"], ready)
	}
	c, err := eqgate.Dial(g.udp, eqgate.Config{ConnectStale: waitBound / 2}, newClient(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// A second session from 127.0.0.1 is over the cap: with stateless
	// admission the refusal comes when its first datagram proves the key.
	if c2, err := eqgate.Dial(g.udp, eqgate.Config{ConnectStale: 300 * time.Millisecond}, newClient(1)); err == nil {
		_ = c2.Send(0, message(2, 0), true)
		defer c2.Close()
	}
	line := g.waitLog(t, `"msg":"sessions refused"`, `"cap_ip":`)
	rec = nil
	if err := json.Unmarshal([]byte(line), &rec); err != nil {
		t.Fatal(err)
	}
	if rec["listen"] != g.udp || rec["interval"] != 0.1 || rec["cap_ip"].(float64) < 1 || rec["refused"] != rec["cap_ip"] {
		t.Errorf("refusal line %s", line)
	}
	if err := g.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	line = g.waitLog(t, `"msg":"draining"`)
	rec = nil
	if err := json.Unmarshal([]byte(line), &rec); err != nil {
		t.Fatal(err)
	}
	if rec["timeout"] != 10.0 || rec["flush"] != 2.0 {
		t.Errorf("draining line: durations not in seconds: %s", line)
	}
}

// TestBackendDownUpEvent: one process, two listeners of a config file: an
// echo port, and a relay port whose backend does not answer. Its failed
// dials log "backend down" (JSON, counts by reason since the last line)
// while the echo port serves; once a backend answers, "backend up".
func TestBackendDownUpEvent(t *testing.T) {
	hole, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	backend := hole.LocalAddr().String()
	path := writeFile(t, "eqgate.toml", `metrics = "127.0.0.1:0"
log-format = "json"
log-every = "100ms"
shards = 1

[listener.login]
listen = "127.0.0.1:0"

[listener.zones]
listen = "127.0.0.1:0"
handler = "relay"
backend = "`+backend+`"
connect-timeout = "200ms"
# The client's SessionDisconnect after a failed leg leaves with the next
# keepalive: keep the three failures quick.
keepalive = "300ms"
`)
	g := startGateArgs(t, "-config", path)
	addrs := strings.Split(g.udp, ",")
	if len(addrs) != 2 {
		t.Fatalf("ready line udp %q", g.udp)
	}
	dial := func(addr string, h *client) *eqgate.Conn {
		t.Helper()
		c, err := eqgate.Dial(addr, eqgate.Config{ConnectStale: waitBound / 2}, h)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	for range relay.DefaultUnhealthyAfter {
		h := newClient(1)
		dial(addrs[1], h)
		select {
		case <-h.closed: // the backend did not answer within connect-timeout
		case <-time.After(waitBound):
			t.Fatal("relay client not closed")
		}
	}
	line := g.waitLog(t, `"msg":"backend down`)
	var rec map[string]any
	if err := json.Unmarshal([]byte(line), &rec); err != nil {
		t.Fatal(err)
	}
	if rec["listen"] != addrs[1] || rec["backend"] != backend || rec["interval"] != 0.1 || rec["level"] != "ERROR" {
		t.Errorf("backend down line %s", line)
	}
	if n, _ := rec["backend_no_answer"].(float64); n < 1 {
		t.Errorf("backend down line counts no backend_no_answer: %s", line)
	}
	// The echo port is its own listener, with its own handler.
	h := newClient(1)
	if err := dial(addrs[0], h).Send(0, []byte("hello"), true); err != nil {
		t.Fatal(err)
	}
	select {
	case <-h.done:
	case <-time.After(waitBound):
		t.Fatal("echo port: no echo")
	}

	// A backend on the same address: the next dial opens, the relay is
	// healthy again.
	hole.Close()
	be, err := eqgate.Listen(backend, eqgate.Config{Shards: 1}, new(echo))
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	h = newClient(1)
	if err := dial(addrs[1], h).Send(0, []byte("through"), true); err != nil {
		t.Fatal(err)
	}
	select {
	case <-h.done:
	case <-time.After(waitBound):
		t.Fatal("relay: no echo from the new backend")
	}
	line = g.waitLog(t, `"msg":"backend up"`)
	if !strings.Contains(line, `"backend":"`+backend+`"`) {
		t.Errorf("backend up line %s", line)
	}
}

// fakeServer is a watched server whose figures a test sets.
type fakeServer struct {
	addr   netip.AddrPort
	total  eqgate.ShardStats
	health []eqgate.SocketHealth
}

func (f *fakeServer) Addr() netip.AddrPort                { return f.addr }
func (f *fakeServer) Shards() int                         { return len(f.health) }
func (f *fakeServer) Stats() eqgate.Stats                 { return eqgate.Stats{Total: f.total} }
func (f *fakeServer) SocketHealth() []eqgate.SocketHealth { return f.health }

// jsonLog is a JSON logger into a buffer, as -log-format json builds it.
func jsonLog() (*slog.Logger, *bytes.Buffer) {
	var b bytes.Buffer
	return newLogger(&options{logFormat: "json", logLevel: slog.LevelDebug}, &b), &b
}

// records parses and empties b.
func records(t *testing.T, b *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if line == "" {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		out = append(out, rec)
	}
	b.Reset()
	return out
}

// TestEventWatchEvents: each runtime event kind is one line per check with
// the count since the last, nothing when nothing changed, and GSO turned
// off is logged once per shard.
func TestEventWatchEvents(t *testing.T) {
	srv := &fakeServer{
		addr:   netip.MustParseAddrPort("127.0.0.1:9000"),
		total:  eqgate.ShardStats{Drops: map[string]uint64{}},
		health: []eqgate.SocketHealth{{GSO: true}, {GSO: true}},
	}
	log, buf := jsonLog()
	w := newEventWatch(log, []watched{srv}, nil)
	w.check(time.Second)
	if recs := records(t, buf); len(recs) != 0 {
		t.Fatalf("lines with nothing changed: %v", recs)
	}

	srv.total.Drops = map[string]uint64{"cap_ip": 7, "cap_total": 2}
	srv.health = []eqgate.SocketHealth{{GSO: true, KernelDrops: 5, SocketErrors: 1}, {GSO: false, GSOReason: "EIO", SendDrops: 3}}
	w.check(time.Second)
	got := map[string]map[string]any{}
	for _, r := range records(t, buf) {
		got[strings.SplitN(r["msg"].(string), ":", 2)[0]] = r
	}
	want := map[string]map[string]any{
		"sessions refused":         {"refused": 9.0, "cap_ip": 7.0, "cap_total": 2.0, "level": "WARN"},
		"kernel dropped datagrams": {"dropped": 5.0, "level": "WARN"},
		"kernel refused sends":     {"refused": 3.0, "level": "WARN"},
		"socket errors":            {"errors": 1.0, "level": "ERROR"},
		"gso":                      {"shard": 1.0, "reason": "EIO", "level": "WARN"},
	}
	for msg, fields := range want {
		r, ok := got[msg]
		if !ok {
			t.Errorf("no %q line", msg)
			continue
		}
		if r["listen"] != "127.0.0.1:9000" {
			t.Errorf("%q: listen %v", msg, r["listen"])
		}
		for k, v := range fields {
			if r[k] != v {
				t.Errorf("%q: %s = %v, want %v", msg, k, r[k], v)
			}
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d kinds of line, want %d: %v", len(got), len(want), got)
	}

	// Counts are since the last line; GSO off is not repeated.
	srv.total.Drops = map[string]uint64{"cap_ip": 8, "cap_total": 2}
	w.check(time.Second)
	recs := records(t, buf)
	if len(recs) != 1 || recs[0]["msg"] != "sessions refused" || recs[0]["refused"] != 1.0 || recs[0]["cap_ip"] != 1.0 {
		t.Errorf("second check: %v, want one refusal line counting 1", recs)
	}
}

// TestAttackLogStartEnd: the under-attack gauge logs "under attack" when a
// shard reports it and "attack over" when none does, at most one line per
// server per attackLogGap however fast it flaps.
func TestAttackLogStartEnd(t *testing.T) {
	srv := &fakeServer{addr: netip.MustParseAddrPort("127.0.0.1:9000")}
	log, buf := jsonLog()
	var a attackLog
	t0 := time.Unix(1000, 0)
	a.check(log, []watched{srv}, t0)
	if recs := records(t, buf); len(recs) != 0 {
		t.Fatalf("lines while calm: %v", recs)
	}
	srv.total.UnderAttack, srv.total.UnprovenRate = 1, 12000
	a.check(log, []watched{srv}, t0.Add(time.Second))
	recs := records(t, buf)
	if len(recs) != 1 || recs[0]["msg"] != "under attack" || recs[0]["unproven_per_second"] != 12000.0 || recs[0]["shards"] != 1.0 {
		t.Fatalf("start: %v", recs)
	}
	// Over, then the gap: nothing until attackLogGap has passed.
	srv.total.UnderAttack, srv.total.UnprovenRate = 0, 10
	a.check(log, []watched{srv}, t0.Add(2*time.Second))
	if recs := records(t, buf); len(recs) != 0 {
		t.Fatalf("flap within the gap logged: %v", recs)
	}
	a.check(log, []watched{srv}, t0.Add(time.Second+attackLogGap))
	recs = records(t, buf)
	if len(recs) != 1 || recs[0]["msg"] != "attack over" || recs[0]["listen"] != "127.0.0.1:9000" {
		t.Fatalf("end: %v", recs)
	}
}
