package main

// docs_test.go: the code is a text to read next to the article, and the
// README is its map. These tests keep the map true.

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// topLevelNames returns the top-level identifiers declared in a Go file:
// functions, methods (by their own name), types, constants and variables.
func topLevelNames(t *testing.T, file string) (map[string]bool, *ast.File, *token.FileSet) {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, file, nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			names[d.Name.Name] = true
		case *ast.GenDecl:
			for _, s := range d.Specs {
				switch s := s.(type) {
				case *ast.TypeSpec:
					names[s.Name.Name] = true
				case *ast.ValueSpec:
					for _, n := range s.Names {
						names[n.Name] = true
					}
				}
			}
		}
	}
	return names, f, fset
}

// TestREADMEReferencesExist: every `file.go:name` in the README and in
// README.zh-CN.md names a declaration in that file, and every code quote in the last column of the
// "gets wrong" table is found, as written, in a file its cell names.
func TestREADMEReferencesExist(t *testing.T) {
	ref := regexp.MustCompile("`([a-z0-9_]+\\.go):([A-Za-z_][A-Za-z0-9_]*)`")
	var readme []byte
	for _, file := range []string{"README.md", "README.zh-CN.md"} {
		text, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if file == "README.md" {
			readme = text
		}
		refs := ref.FindAllStringSubmatch(string(text), -1)
		if len(refs) < 20 {
			t.Fatalf("only %d code references in %s", len(refs), file)
		}
		for _, m := range refs {
			names, _, _ := topLevelNames(t, m[1])
			if !names[m[2]] {
				t.Errorf("%s refers to %s:%s, which %s does not declare", file, m[1], m[2], m[1])
			}
		}
	}

	_, table, ok := strings.Cut(string(readme), "## What the article's server gets wrong")
	if !ok {
		t.Fatal("README lacks the section on the article's server")
	}
	table, _, _ = strings.Cut(table, "\n## ")
	quote := regexp.MustCompile("`([^`]+)`")
	rows := 0
	for _, line := range strings.Split(table, "\n") {
		cells := strings.Split(strings.Trim(line, "| "), " | ")
		if len(cells) != 3 || strings.HasPrefix(cells[0], "---") || cells[0] == "the article's code" {
			continue
		}
		rows++
		ours := cells[2]
		var sources []string
		for _, m := range ref.FindAllStringSubmatch(ours, -1) {
			src, err := os.ReadFile(m[1])
			if err != nil {
				t.Fatal(err)
			}
			sources = append(sources, string(src))
		}
		if len(sources) == 0 {
			t.Errorf("row %q names no file of ours", cells[0])
		}
		for _, m := range quote.FindAllStringSubmatch(ref.ReplaceAllString(ours, ""), -1) {
			found := false
			for _, src := range sources {
				found = found || strings.Contains(src, m[1])
			}
			if !found {
				t.Errorf("row %q quotes %q, which is not in the files it names", cells[0], m[1])
			}
		}
	}
	if rows < 8 {
		t.Fatalf("found %d rows in the table of the article's mistakes", rows)
	}
}

// TestEveryDeclarationHasAComment: every type of the server's files, and
// every function longer than a few lines, says what it is for. One-line
// helpers and values whose names say it all may go without.
func TestEveryDeclarationHasAComment(t *testing.T) {
	files, _ := filepath.Glob("*.go")
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		_, f, fset := topLevelNames(t, file)
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				lines := fset.Position(d.End()).Line - fset.Position(d.Pos()).Line
				if d.Doc == nil && d.Name.Name != "main" && lines > 5 {
					t.Errorf("%s: func %s has no comment", fset.Position(d.Pos()), d.Name.Name)
				}
			case *ast.GenDecl:
				if d.Tok != token.TYPE || d.Doc != nil {
					continue
				}
				for _, s := range d.Specs {
					if s := s.(*ast.TypeSpec); s.Doc == nil && s.Comment == nil {
						t.Errorf("%s: type %s has no comment", fset.Position(s.Pos()), s.Name.Name)
					}
				}
			}
		}
	}
}

// TestLayout keeps the files a reading path: the codec small and free of
// the connection's concerns, main.go only flags and main, no file too long
// to read, the reading path free of tracer checks, and every piece of
// machinery opening with what it buys and the plain code it stands in for.
func TestLayout(t *testing.T) {
	lines := func(file string) int {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		return strings.Count(string(b), "\n")
	}
	files, _ := filepath.Glob("*.go")
	for _, file := range files {
		if n := lines(file); !strings.HasSuffix(file, "_test.go") && n > 450 {
			t.Errorf("%s has %d lines; split it by concern", file, n)
		}
	}
	if n := lines("frame.go"); n > 300 {
		t.Errorf("frame.go has %d lines; the codec should stay within 300", n)
	}
	if n := lines("main.go"); n > 250 {
		t.Errorf("main.go has %d lines; it should be flags and main", n)
	}
	_, f, _ := topLevelNames(t, "frame.go")
	for _, imp := range f.Imports {
		switch path := strings.Trim(imp.Path.Value, `"`); path {
		case "net", "sync", "time", "bufio", "os", "log/slog":
			t.Errorf("frame.go imports %s: the codec knows nothing of connections, locks or clocks", path)
		}
	}
	for _, file := range []string{"upgrade.go", "frame.go", "conn.go", "close.go"} {
		src, _ := os.ReadFile(file)
		if strings.Contains(string(src), "trace != nil") {
			t.Errorf("%s checks for a nil tracer: the hooks do that (trace.go)", file)
		}
	}
	for _, file := range []string{"mask.go", "pool.go", "idle.go", "stream.go", "utf8.go", "batch.go", "budget.go", "deflate.go", "direct.go"} {
		src, _ := os.ReadFile(file)
		opening, _, _ := strings.Cut(string(src), "import")
		if !strings.Contains(opening, "buys") || !strings.Contains(opening, "stands in for") {
			t.Errorf("%s does not open by saying what it buys and the plain code it stands in for", file)
		}
	}
}
