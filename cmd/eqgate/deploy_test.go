package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

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
