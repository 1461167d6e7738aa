package main

import (
	"bytes"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestServiceUnitConfig: the systemd unit's command line, with the shipped
// deploy/eqgate.toml in place of /etc/eqgate/eqgate.toml, passes
// -check-config, and TimeoutStopSec leaves the file's drain its time
// (drain-timeout + drain-flush + the 1 s grace).
func TestServiceUnitConfig(t *testing.T) {
	unit, err := os.ReadFile("../../deploy/eqgate.service")
	if err != nil {
		t.Fatal(err)
	}
	exec1 := regexp.MustCompile(`(?m)^ExecStart=\S+ (.*)$`).FindSubmatch(unit)
	stop := regexp.MustCompile(`(?m)^TimeoutStopSec=(\S+)$`).FindSubmatch(unit)
	if exec1 == nil || stop == nil {
		t.Fatal("no ExecStart or TimeoutStopSec in the unit")
	}
	args := strings.Fields(strings.ReplaceAll(string(exec1[1]), "/etc/eqgate/eqgate.toml", "../../deploy/eqgate.toml"))
	if !strings.Contains(string(exec1[1]), "-config /etc/eqgate/eqgate.toml") {
		t.Errorf("ExecStart %q does not load /etc/eqgate/eqgate.toml", exec1[1])
	}
	cmd := exec.Command(binary, append(args, "-check-config")...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v: %v\n%s", args, err, errOut.String())
	}
	durationKey := func(name string) time.Duration {
		m := regexp.MustCompile(`(?m)^` + name + ` = "([^"]+)"`).FindStringSubmatch(out.String())
		if m == nil {
			t.Fatalf("no %s in -check-config output", name)
		}
		d, err := time.ParseDuration(m[1])
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	limit, err := time.ParseDuration(string(stop[1]))
	if err != nil {
		t.Fatal(err)
	}
	if need := durationKey("drain-timeout") + durationKey("drain-flush") + time.Second; limit <= need {
		t.Errorf("TimeoutStopSec=%v does not exceed drain-timeout + drain-flush + 1s = %v", limit, need)
	}
}

// TestSysctlDropInMatchesTuning: every setting in deploy/60-eqgate.conf,
// and every value in its comments, is one tuning.md's sysctl table gives
// for that key, so the two cannot drift apart.
func TestSysctlDropInMatchesTuning(t *testing.T) {
	conf, err := os.ReadFile("../../deploy/60-eqgate.conf")
	if err != nil {
		t.Fatal(err)
	}
	tuning, err := os.ReadFile("../../tuning.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{} // sysctl -> its table row
	// A row's first cell names one sysctl or several ("`net.core.a` /
	// `b`", where b shares a's prefix).
	name := regexp.MustCompile("`([a-z0-9_.]+)`")
	for _, l := range strings.Split(string(tuning), "\n") {
		if !strings.HasPrefix(l, "| `net.") {
			continue
		}
		first, _, _ := strings.Cut(l[2:], " | ")
		prefix := ""
		for _, m := range name.FindAllStringSubmatch(first, -1) {
			k := m[1]
			if strings.HasPrefix(k, "net.") {
				prefix = k[:strings.LastIndex(k, ".")+1]
			} else {
				k = prefix + k
			}
			rows[k] += l
		}
	}
	setting := regexp.MustCompile(`^(net\.[a-z0-9_.]+) = (.+)$`)
	n := 0
	last := ""
	for _, l := range strings.Split(string(conf), "\n") {
		if m := setting.FindStringSubmatch(l); m != nil {
			last = m[1]
			checkRow(t, rows, m[1], m[2])
			n++
			continue
		}
		if v, ok := strings.CutPrefix(l, "# 32 cores: "); ok && last != "" {
			if m := setting.FindStringSubmatch(v); m != nil {
				checkRow(t, rows, m[1], m[2])
			} else {
				checkRow(t, rows, last, v)
			}
		}
	}
	if n < 4 {
		t.Fatalf("only %d settings in the drop-in", n)
	}
}

func checkRow(t *testing.T, rows map[string]string, key, value string) {
	t.Helper()
	row, ok := rows[key]
	if !ok {
		t.Errorf("%s is not in tuning.md's sysctl table", key)
		return
	}
	if !strings.Contains(row, value) {
		t.Errorf("%s = %s: tuning.md's row does not give that value:\n%s", key, value, row)
	}
}
