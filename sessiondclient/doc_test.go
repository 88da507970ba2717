package sessiondclient_test

import (
	"os"
	"strings"
	"testing"
)

// TestDocCodeCompiles checks that every code block of the package
// documentation is in example_test.go, line for line and in order, where
// the compiler checks it.
func TestDocCodeCompiles(t *testing.T) {
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile("example_test.go")
	if err != nil {
		t.Fatal(err)
	}
	var blocks [][]string
	var cur []string
	for _, line := range strings.Split(string(doc), "\n") {
		code, ok := strings.CutPrefix(line, "//\t")
		if ok {
			if c := strings.TrimSpace(code); c != "" {
				cur = append(cur, c)
			}
			continue
		}
		if line == "//" && cur != nil {
			continue // a blank line inside a block
		}
		if cur != nil {
			blocks = append(blocks, cur)
			cur = nil
		}
	}
	if len(blocks) < 2 {
		t.Fatalf("found %d code blocks in doc.go, want the two of the overview and the quick start", len(blocks))
	}
	var exampleLines []string
	for _, line := range strings.Split(string(example), "\n") {
		exampleLines = append(exampleLines, strings.TrimSpace(line))
	}
	for _, block := range blocks {
		if !inOrder(exampleLines, block) {
			t.Errorf("this code of doc.go is not in example_test.go, line for line:\n%s", strings.Join(block, "\n"))
		}
	}
}

// inOrder reports whether block appears in lines as consecutive non-blank
// lines.
func inOrder(lines, block []string) bool {
	for i := range lines {
		j, k := i, 0
		for j < len(lines) && k < len(block) {
			if lines[j] == "" {
				j++
				continue
			}
			if lines[j] != block[k] {
				break
			}
			j++
			k++
		}
		if k == len(block) {
			return true
		}
	}
	return false
}
