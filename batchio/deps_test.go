package batchio

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportBoundaries: batchio is the module's only library package that may
// import syscall or golang.org/x/sys (DESIGN.md), and batchio itself imports
// only the standard library, x/sys and x/net. Programs (package main) may
// import syscall for signal numbers, never x/sys. (The rest of DESIGN.md's
// table is the root package's TestImportRules.)
func TestImportBoundaries(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command:", err)
	}
	const self = "github.com/eqgate/eqgate/batchio"
	for _, goos := range []string{"linux", "windows"} {
		cmd := exec.Command(goBin, "list", "-f", `{{.ImportPath}} {{.Name}} {{join .Imports " "}}`, "../...")
		cmd.Env = append(cmd.Environ(), "GOOS="+goos)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list (GOOS=%s): %v", goos, err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			f := strings.Fields(line)
			pkg, name, imports := f[0], f[1], f[2:]
			for _, imp := range imports {
				xsys := strings.HasPrefix(imp, "golang.org/x/sys/")
				sys := xsys || imp == "syscall"
				external := strings.Contains(strings.Split(imp, "/")[0], ".")
				switch {
				case pkg != self && (xsys || sys && name != "main"):
					t.Errorf("GOOS=%s: %s imports %s; only batchio may", goos, pkg, imp)
				case pkg == self && external &&
					!strings.HasPrefix(imp, "golang.org/x/sys/") && !strings.HasPrefix(imp, "golang.org/x/net/"):
					t.Errorf("GOOS=%s: batchio imports %s; it may import only the standard library, x/sys and x/net", goos, imp)
				}
			}
		}
	}
}
