package main

// docs_test.go: the code is a text to read next to the article, and the
// README is its map. These tests keep the map true.

import (
	"errors"
	"flag"
	"fmt"
	"go/ast"
	"go/build"
	"go/parser"
	"go/token"
	"go/types"
	"os"
	"path/filepath"
	"regexp"
	"slices"
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

// TestREADMEReferencesExist: the READMEs are the map of the code: each
// cites many declarations, by file and name, and each one it cites exists;
// every code quote in the last column of the "gets wrong" table is found,
// as written, in a file its cell names.
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
	for _, check := range tracerNilChecks(t, "upgrade.go", "frame.go", "conn.go", "close.go") {
		t.Errorf("%s: the hooks check for a nil tracer themselves (trace.go)", check)
	}
	for _, file := range []string{"mask.go", "pool.go", "idle.go", "stream.go", "utf8.go", "batch.go", "budget.go", "deflate.go", "direct.go"} {
		src, _ := os.ReadFile(file)
		opening, _, _ := strings.Cut(string(src), "import")
		if !strings.Contains(opening, "buys") || !strings.Contains(opening, "stands in for") {
			t.Errorf("%s does not open by saying what it buys and the plain code it stands in for", file)
		}
	}
}

// tracerNilChecks type-checks the package and returns, by position, every
// == or != between a *tracer and nil in the given files, whatever holds
// the tracer (a field, a variable, a call) and on whichever side.
// It fails the test if those files hold no *tracer at all: then the check
// would pass whatever they did.
func tracerNilChecks(t *testing.T, files ...string) []string {
	t.Helper()
	pkg, err := build.Default.ImportDir(".", 0) // the files this platform builds
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var parsed []*ast.File
	for _, name := range pkg.GoFiles {
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		parsed = append(parsed, f)
	}
	info := &types.Info{Types: map[ast.Expr]types.TypeAndValue{}}
	// No import is loaded, which keeps the check quick and needs nothing
	// but the sources: a name from another package is left untyped, and
	// the tracer, and whatever holds one, are this package's. Any error
	// but a failed import fails the test.
	conf := types.Config{
		Importer: importerFunc(func(path string) (*types.Package, error) { return nil, errNotLoaded }),
		Error: func(err error) {
			if !strings.Contains(err.Error(), errNotLoaded.Error()) {
				t.Errorf("type check: %v", err)
			}
		},
	}
	checked, _ := conf.Check("main", fset, parsed, info)
	obj := checked.Scope().Lookup("tracer")
	if obj == nil {
		t.Fatal("the package declares no tracer")
	}
	tracerPtr := types.NewPointer(obj.Type())
	isTracer := func(e ast.Expr) bool { return types.Identical(info.TypeOf(e), tracerPtr) }
	isNil := func(e ast.Expr) bool { return info.Types[e].IsNil() }

	var checks []string
	uses := 0
	for _, f := range parsed {
		name := fset.Position(f.Pos()).Filename
		if !slices.Contains(files, name) {
			continue
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case ast.Expr:
				if isTracer(n) {
					uses++
				}
				if b, ok := n.(*ast.BinaryExpr); ok && (b.Op == token.EQL || b.Op == token.NEQ) &&
					(isTracer(b.X) && isNil(b.Y) || isNil(b.X) && isTracer(b.Y)) {
					checks = append(checks, fmt.Sprint(fset.Position(b.Pos())))
				}
			}
			return true
		})
	}
	if uses == 0 {
		t.Fatalf("%v hold no *tracer: the type check found nothing to look at", files)
	}
	return checks
}

// importerFunc makes a function a types.Importer.
type importerFunc func(path string) (*types.Package, error)

func (f importerFunc) Import(path string) (*types.Package, error) { return f(path) }

// errNotLoaded is tracerNilChecks' answer to every import.
var errNotLoaded = errors.New("imports are not loaded here")

// TestDocCitationsExist: what the text cites exists. Every test cited by name
// (a func whose name starts Test, Benchmark, Fuzz or Example) in the
// Markdown files or in the comments of the Go files is declared somewhere
// in the repository, and every declaration cited by file and name, as in
// page.go:awaitPoll, is declared in that file: a file named from a comment
// is looked for beside it, then from the repository's root.
func TestDocCitationsExist(t *testing.T) {
	testName := regexp.MustCompile(`\b(?:Test|Benchmark|Fuzz|Example)[A-Z0-9_][A-Za-z0-9_]*`)
	citation := regexp.MustCompile(`\b([A-Za-z0-9_][A-Za-z0-9_./-]*\.go):([A-Za-z_][A-Za-z0-9_]*)`)

	type text struct {
		where string // file:line of the text's first line
		file  string // the file it is in
		line  int
		body  string
	}
	var texts []text
	funcs := map[string]bool{} // every func and method in the repository, by name
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		switch filepath.Ext(path) {
		case ".md":
			b, err := os.ReadFile(path)
			texts = append(texts, text{file: path, line: 1, body: string(b)})
			return err
		case ".go":
			fset := token.NewFileSet()
			f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
			if err != nil {
				return err
			}
			for _, d := range f.Decls {
				if fd, ok := d.(*ast.FuncDecl); ok {
					funcs[fd.Name.Name] = true
				}
			}
			for _, g := range f.Comments {
				for _, c := range g.List {
					texts = append(texts, text{file: path, line: fset.Position(c.Pos()).Line, body: c.Text})
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(funcs) == 0 || len(texts) == 0 {
		t.Fatal("found no code or no text to check")
	}

	declared := map[string]map[string]bool{} // a file's top-level names, by its path
	declares := func(file, name string) bool {
		if _, ok := declared[file]; !ok {
			declared[file] = nil
			if _, err := os.Stat(file); err == nil {
				declared[file], _, _ = topLevelNames(t, file)
			}
		}
		return declared[file][name]
	}
	at := func(x text, offset int) string {
		return fmt.Sprintf("%s:%d", x.file, x.line+strings.Count(x.body[:offset], "\n"))
	}
	tests, cites := 0, 0
	for _, x := range texts {
		for _, m := range testName.FindAllStringIndex(x.body, -1) {
			tests++
			if name := x.body[m[0]:m[1]]; !funcs[name] {
				t.Errorf("%s cites %s, which no file declares", at(x, m[0]), name)
			}
		}
		for _, m := range citation.FindAllStringSubmatchIndex(x.body, -1) {
			cites++
			file, name := x.body[m[2]:m[3]], x.body[m[4]:m[5]]
			beside := filepath.Join(filepath.Dir(x.file), file)
			if !declares(beside, name) && !declares(filepath.Clean(file), name) {
				t.Errorf("%s cites %s:%s, which that file does not declare", at(x, m[0]), file, name)
			}
		}
	}
	if tests == 0 || cites == 0 {
		t.Fatalf("found %d tests and %d declarations cited: the patterns have stopped matching", tests, cites)
	}
}

// TestREADMEFlagTables: each README's flags table has a row for every flag
// main.go defines, so that neither guide, the Chinese one above all, falls
// behind the flags a reader can pass.
func TestREADMEFlagTables(t *testing.T) {
	var usage strings.Builder
	if _, err := parseFlags([]string{"-h"}, &usage); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("parseFlags(-h) = %v, want flag.ErrHelp", err)
	}
	names := regexp.MustCompile(`(?m)^  -([a-z-]+)`).FindAllStringSubmatch(usage.String(), -1)
	if len(names) < 10 {
		t.Fatalf("found %d flags in the usage: the pattern has stopped matching", len(names))
	}
	for _, file := range []string{"README.md", "README.zh-CN.md"} {
		text, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range names {
			if !strings.Contains(string(text), "| `-"+m[1]+"` |") {
				t.Errorf("%s has no row for -%s in its flags table", file, m[1])
			}
		}
	}
}
