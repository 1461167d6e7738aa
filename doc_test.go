package eqgate

import (
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// packageDocTopics is what each package's doc must cover beyond its first
// sentence (STYLE: one package doc per package: model, buffer ownership,
// concurrency). Packages not listed need only the doc itself.
var packageDocTopics = map[string][]string{
	"ring":    {"# Model", "# Ownership", "# Memory ordering", "happens before", "consumer", "zero value"},
	"pool":    {"# Model", "# Ownership and concurrency", "# Debug mode", "Put is owner-only", "over a ring"},
	"batchio": {"Model.", "Buffer ownership.", "Concurrency."},
	"proto":   {"Buffer ownership", "Concurrency", "Errors"},
}

// TestPackageDocs: every package in the module has exactly one package doc
// comment ("Package x ..." for libraries, "Command x ..." for programs), and
// it covers its topics.
func TestPackageDocs(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.Dir}} {{.Name}} {{.ImportPath}}", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		dir, name, path := f[0], f[1], strings.TrimPrefix(strings.TrimPrefix(f[2], "github.com/eqgate/eqgate"), "/")
		t.Run(path, func(t *testing.T) {
			files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
			var withDoc []string
			var doc string
			for _, file := range files {
				if strings.HasSuffix(file, "_test.go") {
					continue
				}
				pf, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.ParseComments|parser.PackageClauseOnly)
				if err != nil {
					t.Fatal(err)
				}
				if pf.Doc != nil {
					withDoc = append(withDoc, filepath.Base(file))
					doc = pf.Doc.Text()
				}
			}
			if len(withDoc) != 1 {
				t.Fatalf("package doc comments in %v, want exactly one", withDoc)
			}
			want := "Package " + name + " "
			if name == "main" {
				want = "Command " + filepath.Base(dir) + " "
			}
			if !strings.HasPrefix(doc, want) {
				t.Errorf("package doc starts %q, want %q", doc[:min(len(doc), 30)], want)
			}
			for _, topic := range packageDocTopics[path] {
				if !strings.Contains(doc, topic) && !strings.Contains(doc, strings.ToLower(topic)) {
					t.Errorf("package doc does not cover %q", topic)
				}
			}
		})
	}
}
