package httpsession_test

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// Every Go block of docs/integration.md is code that compiles and runs: it
// appears, line for line (indentation aside), in one of these files, whose
// Examples the tests run.
var docSources = []string{
	"../example_quickstart_test.go",
	"example_test.go",
	"sessiond_test.go",
	"../sessiondclient/example_test.go",
}

var goBlockRE = regexp.MustCompile("(?s)```go\n(.*?)```")

func TestIntegrationDocCompiles(t *testing.T) {
	b, err := os.ReadFile("../docs/integration.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	// The README's "Integrating" section holds the same quick starts.
	b, err = os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## Integrating\n")
	if !ok {
		t.Fatal(`README.md has no "## Integrating" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	doc += section
	var sources []string
	for _, p := range docSources {
		b, err := os.ReadFile(p)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		sources = append(sources, string(b))
	}
	blocks := goBlockRE.FindAllStringSubmatch(doc, -1)
	if len(blocks) < 3 {
		t.Fatalf("found %d Go blocks in docs/integration.md, want the quick starts", len(blocks))
	}
	for _, b := range blocks {
		found := false
		for _, src := range sources {
			if containsLines(src, b[1]) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("this block of docs/integration.md or the README is in none of %v:\n%s", docSources, b[1])
		}
	}
}

// containsLines reports whether block's lines appear consecutively in src,
// each with the same extra indentation (or inside a line, for a one-line
// block).
func containsLines(src, block string) bool {
	want := strings.Split(strings.TrimRight(block, "\n"), "\n")
	have := strings.Split(src, "\n")
	if len(want) == 1 {
		return strings.Contains(src, want[0])
	}
	for i := 0; i+len(want) <= len(have); i++ {
		indent, ok := strings.CutSuffix(have[i], want[0])
		if !ok || strings.TrimLeft(indent, "\t") != "" {
			continue
		}
		j := 1
		for ; j < len(want); j++ {
			if want[j] == "" && strings.TrimSpace(have[i+j]) == "" {
				continue
			}
			if have[i+j] != indent+want[j] {
				break
			}
		}
		if j == len(want) {
			return true
		}
	}
	return false
}

func TestContainsLines(t *testing.T) {
	src := "func f() {\n\tx := 1\n\n\tif x > 0 {\n\t\treturn\n\t}\n}\n"
	for block, want := range map[string]bool{
		"x := 1\n\nif x > 0 {\n\treturn\n}\n": true,
		"x := 1\nif x > 0 {\n":                false,
		"if x > 0 {\nreturn\n":                false,
		"x := 2\n\nif x > 0 {\n":              false,
		"if x > 0 {":                          true,
	} {
		if got := containsLines(src, block); got != want {
			t.Errorf("containsLines(%q) = %v, want %v", block, got, want)
		}
	}
}
