package main

import (
	"encoding/json"
	"net"
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
