package pool

import (
	"go/parser"
	"go/token"
	"strings"
	"testing"
)

// TestPackageDoc keeps the package doc covering what callers rely on.
func TestPackageDoc(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "doc.go", nil, parser.ParseComments|parser.PackageClauseOnly)
	if err != nil {
		t.Fatal(err)
	}
	if f.Doc == nil {
		t.Fatal("doc.go has no package doc comment")
	}
	doc := f.Doc.Text()
	for _, want := range []string{"# Model", "# Ownership and concurrency", "# Debug mode", "Put is owner-only", "over a ring"} {
		if !strings.Contains(doc, want) && !strings.Contains(doc, strings.ToLower(want)) {
			t.Errorf("package doc does not mention %q", want)
		}
	}
}
