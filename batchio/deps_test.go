package batchio

import (
	"go/parser"
	"go/token"
	"os/exec"
	"strings"
	"testing"
)

// TestImportBoundaries: batchio is the module's only package that may import
// syscall or golang.org/x/sys (DESIGN.md), and batchio itself imports only
// the standard library, x/sys and x/net.
func TestImportBoundaries(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command:", err)
	}
	const self = "github.com/eqgate/eqgate/batchio"
	for _, goos := range []string{"linux", "windows"} {
		cmd := exec.Command(goBin, "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, "../...")
		cmd.Env = append(cmd.Environ(), "GOOS="+goos)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list (GOOS=%s): %v", goos, err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			f := strings.Fields(line)
			pkg, imports := f[0], f[1:]
			for _, imp := range imports {
				sys := imp == "syscall" || strings.HasPrefix(imp, "golang.org/x/sys/")
				switch {
				case pkg != self && sys:
					t.Errorf("GOOS=%s: %s imports %s; only batchio may", goos, pkg, imp)
				case pkg == self && strings.Contains(strings.Split(imp, "/")[0], ".") &&
					!strings.HasPrefix(imp, "golang.org/x/sys/") && !strings.HasPrefix(imp, "golang.org/x/net/"):
					t.Errorf("GOOS=%s: batchio imports %s; it may import only the standard library, x/sys and x/net", goos, imp)
				}
			}
		}
	}
}

// TestPackageDoc: the package doc states the model, buffer ownership and
// concurrency, as every eqgate package's does.
func TestPackageDoc(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "doc.go", nil, parser.PackageClauseOnly|parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	if f.Doc == nil {
		t.Fatal("doc.go has no package comment")
	}
	doc := f.Doc.Text()
	for _, want := range []string{"Package batchio", "Model.", "Buffer ownership.", "Concurrency."} {
		if !strings.Contains(doc, want) {
			t.Errorf("package doc lacks %q", want)
		}
	}
}
