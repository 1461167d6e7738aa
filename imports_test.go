package eqgate

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// importRule is one row of DESIGN.md's table "Packages and what each may
// know": the module packages and the external modules a package may import
// directly (the standard library is always allowed). Arrows point down, so
// direct imports that follow the table keep every dependency chain in it.
type importRule struct {
	mod []string // module packages, relative ("" is the root package)
	ext []string // external module prefixes
	any bool     // cmd: wiring may import everything (but see sys)
	sys bool     // syscall and golang.org/x/sys: batchio's alone (DESIGN.md, STYLE.md)
	why string   // for rows DESIGN.md does not have
}

var importRules = map[string]importRule{
	"proto":   {ext: []string{"github.com/klauspost/compress"}},
	"ring":    {},
	"pool":    {},
	"batchio": {ext: []string{"golang.org/x/sys", "golang.org/x/net"}, sys: true},
	"shard":   {mod: []string{"proto", "ring", "pool", "batchio"}, ext: []string{"github.com/cespare/xxhash"}},
	"":        {mod: []string{"shard", "proto"}, ext: []string{"github.com/prometheus/client_golang"}},
	"relay":   {mod: []string{""}},
	"pcap":    {why: "capture files for /debug/trace and eqgate decode: a leaf, stdlib only"},
	"bench":   {mod: []string{"", "bench/*"}},
	"bench/rawecho": {mod: []string{"batchio"},
		why: "the raw-echo baseline: batchio with no engine, the floor eqgate is measured against"},
	"bench/flood": {mod: []string{"", "bench", "bench/*", "batchio"},
		why: "the spoofing flood: forged sources need batchio's raw socket (Spoofer)"},
}

// ruleFor finds pkg's row: its own, the bench row for bench's sub-packages
// (which may also use each other), or the cmd row.
func ruleFor(pkg string) (importRule, bool) {
	if r, ok := importRules[pkg]; ok {
		return r, true
	}
	switch {
	case strings.HasPrefix(pkg, "cmd/"):
		return importRule{any: true}, true
	case strings.HasPrefix(pkg, "bench/"):
		return importRule{mod: []string{"", "bench", "bench/*"}}, true
	}
	return importRule{}, false
}

// allows reports whether a package under r, named name (Go's package name:
// "main" for programs), may import imp.
func (r importRule) allows(name, imp string) bool {
	const module = "github.com/eqgate/eqgate"
	xsys := strings.HasPrefix(imp, "golang.org/x/sys/")
	switch {
	case r.sys:
	case xsys:
		return false // even a program: syscalls are batchio's
	case imp == "syscall":
		return name == "main" // programs, for signal numbers
	}
	if r.any {
		return true
	}
	if imp == module || strings.HasPrefix(imp, module+"/") {
		rel := strings.TrimPrefix(strings.TrimPrefix(imp, module), "/")
		return slices.ContainsFunc(r.mod, func(m string) bool {
			return m == rel || strings.HasSuffix(m, "/*") && strings.HasPrefix(rel, strings.TrimSuffix(m, "*"))
		})
	}
	if !strings.Contains(strings.Split(imp, "/")[0], ".") {
		return true // the standard library
	}
	return slices.ContainsFunc(r.ext, func(e string) bool { return imp == e || strings.HasPrefix(imp, e+"/") })
}

// TestImportRules enforces DESIGN.md's import table on every non-test
// package of the module, for Linux and one other GOOS (the files differ):
// a package without a row, or an import its row does not allow, fails.
// batchio is the only package that may import syscall or x/sys; programs
// may import syscall (signal numbers), never x/sys.
func TestImportRules(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command:", err)
	}
	for _, goos := range []string{"linux", "windows"} {
		cmd := exec.Command(goBin, "list", "-f", `{{.ImportPath}} {{.Name}} {{join .Imports " "}}`, "./...")
		cmd.Env = append(cmd.Environ(), "GOOS="+goos)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list (GOOS=%s): %v", goos, err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			f := strings.Fields(line)
			pkg := strings.TrimPrefix(strings.TrimPrefix(f[0], "github.com/eqgate/eqgate"), "/")
			rule, ok := ruleFor(pkg)
			if !ok {
				t.Errorf("GOOS=%s: package %q has no row in DESIGN.md's import table (add one here and there)", goos, pkg)
				continue
			}
			for _, imp := range f[2:] {
				if !rule.allows(f[1], imp) {
					t.Errorf("GOOS=%s: %q imports %s, which DESIGN.md's table does not allow", goos, pkg, imp)
				}
			}
		}
	}
}

// TestImportRuleTable checks the checker: each rule admits what its row
// says and refuses the rest.
func TestImportRuleTable(t *testing.T) {
	for _, tc := range []struct {
		pkg, imp string
		ok       bool
	}{
		{"batchio", "golang.org/x/sys/unix", true},
		{"batchio", "syscall", true},
		{"shard", "syscall", false},
		{"cmd/eqgate", "syscall", true},
		{"cmd/eqgate", "golang.org/x/sys/unix", false},
		{"", "github.com/eqgate/eqgate/shard", true},
		{"", "github.com/eqgate/eqgate/batchio", false},
		{"", "github.com/prometheus/client_golang/prometheus", true},
		{"", "net/netip", true},
		{"proto", "github.com/klauspost/compress/flate", true},
		{"proto", "github.com/eqgate/eqgate/pool", false},
		{"pool", "golang.org/x/sys/unix", false},
		{"shard", "github.com/eqgate/eqgate/batchio", true},
		{"shard", "github.com/eqgate/eqgate", false},
		{"bench", "github.com/eqgate/eqgate", true},
		{"bench", "github.com/eqgate/eqgate/shard", false},
		{"bench/report", "github.com/eqgate/eqgate/bench/loadgen", true},
		{"bench/report", "github.com/eqgate/eqgate/proto", false},
		{"cmd/eqgate", "github.com/eqgate/eqgate/batchio", true},
	} {
		r, ok := ruleFor(tc.pkg)
		if !ok {
			t.Fatalf("no rule for %q", tc.pkg)
		}
		name := "pkg"
		if strings.HasPrefix(tc.pkg, "cmd/") {
			name = "main"
		}
		if got := r.allows(name, tc.imp); got != tc.ok {
			t.Errorf("%q importing %s: allowed %v, want %v", tc.pkg, tc.imp, got, tc.ok)
		}
	}
	if _, ok := ruleFor("util"); ok {
		t.Error("a package with no row got a rule")
	}
}
