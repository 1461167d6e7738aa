package main

import (
	"encoding/json"
	"syscall"
	"testing"
	"time"

	"github.com/eqgate/eqgate"
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
