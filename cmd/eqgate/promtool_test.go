package main

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/eqgate/eqgate"
)

// needTool finds a command on PATH; without it the test skips, unless
// EQGATE_REQUIRE_TOOLS=1 (CI installs them) makes that a failure.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("EQGATE_REQUIRE_TOOLS") == "1" {
			t.Fatalf("%s not installed and EQGATE_REQUIRE_TOOLS=1", name)
		}
		t.Skipf("%s not installed", name)
	}
	return p
}

// TestPromtool: the binary's /metrics, with traffic on it, passes
// `promtool check metrics` (naming, units, help), and the shipped alerting
// rules pass `promtool check rules`.
func TestPromtool(t *testing.T) {
	promtool := needTool(t, "promtool")
	out, err := exec.Command(promtool, "check", "rules", "../../dashboards/alerts.yml").CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}

	g := startGate(t, "-shards", "2")
	h := newClient(1)
	c, err := eqgate.Dial(g.udp, eqgate.Config{ConnectStale: waitBound / 2}, h)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Send(0, message(0, 0), true); err != nil {
		t.Fatal(err)
	}
	select {
	case <-h.done:
	case <-time.After(waitBound):
		t.Fatal("no echo")
	}
	resp, err := http.Get(g.metricsURL)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}
