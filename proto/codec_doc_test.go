package proto

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// TestCodecPackageDoc checks that the package has exactly one package doc
// comment, in doc.go, and that it covers the model, buffer ownership and
// concurrency (STYLE: one package doc per package).
func TestCodecPackageDoc(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var docs []string
	var doc string
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ParseComments|parser.PackageClauseOnly)
		if err != nil {
			t.Fatal(err)
		}
		if f.Doc != nil {
			docs = append(docs, name)
			doc = f.Doc.Text()
		}
	}
	if len(docs) != 1 || docs[0] != "doc.go" {
		t.Fatalf("package doc comments in %v, want exactly doc.go", docs)
	}
	if !strings.HasPrefix(doc, "Package proto ") {
		t.Fatalf("package doc starts %q", doc[:min(len(doc), 20)])
	}
	for _, topic := range []string{"Buffer ownership", "Concurrency", "Errors"} {
		if !strings.Contains(doc, topic) {
			t.Errorf("package doc does not cover %q", topic)
		}
	}
}
