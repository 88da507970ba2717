package main

import (
	"context"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/config"
	"github.com/sessiondb/sessiondb/internal/metrics"
	"github.com/sessiondb/sessiondb/memstore"
)

// TestDocs checks that docs/sessiond.md names every setting and every
// sessiond_ metric, so that the documentation follows the code.
func TestDocs(t *testing.T) {
	b, err := os.ReadFile("../../docs/sessiond.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, s := range config.Settings {
		if !strings.Contains(doc, "`"+s.Env+"`") {
			t.Errorf("docs/sessiond.md does not document %s", s.Env)
		}
	}
	for _, s := range serverSettings {
		if !strings.Contains(doc, "`"+s.Env+"`") {
			t.Errorf("docs/sessiond.md does not document %s", s.Env)
		}
		if s.Flag != "" && !strings.Contains(doc, "`-"+s.Flag+"`") {
			t.Errorf("docs/sessiond.md does not document -%s", s.Flag)
		}
	}

	m := metrics.New("test")
	st := m.InstrumentStore(memstore.New())
	mgr, err := sessiondb.New(st, sessiondb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m.RegisterStats(mgr, 0, 0)
	m.RegisterCache(nil)
	m.Route("/x", "GET").Observe(200, 0)
	if _, err := mgr.Create(context.Background(), "u", 0, nil); err != nil {
		t.Fatal(err)
	}
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, mf := range mfs {
		if name := mf.GetName(); strings.HasPrefix(name, "sessiond_") {
			n++
			if !strings.Contains(doc, "`"+name+"`") {
				t.Errorf("docs/sessiond.md does not document the metric %s", name)
			}
		}
	}
	if n < 20 {
		t.Errorf("only %d sessiond_ metrics gathered", n)
	}
}

// TestDocumentedDefaults: the default column of the settings tables in the
// README and docs/sessiond.md is the code's default, setting by setting.
func TestDocumentedDefaults(t *testing.T) {
	want := map[string]string{}
	for _, s := range config.Settings {
		want[s.Env] = s.Default()
	}
	for _, s := range serverSettings {
		want[s.Env] = s.Default()
	}
	names := regexp.MustCompile("`([A-Z][A-Z0-9_]*)`")
	for _, file := range []string{"../../README.md", "../../docs/sessiond.md"} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		seen := 0
		for line := range strings.SplitSeq(string(b), "\n") {
			cells := strings.Split(line, "|")
			if len(cells) != 6 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`") {
				continue
			}
			doc := strings.Trim(strings.TrimSpace(cells[3]), "`")
			if doc == "(unset)" {
				doc = ""
			}
			for _, m := range names.FindAllStringSubmatch(cells[1], -1) {
				if def, ok := want[m[1]]; ok {
					seen++
					if doc != def {
						t.Errorf("%s: %s defaults to %q, the code to %q", file, m[1], doc, def)
					}
				}
			}
		}
		if seen < len(want) {
			t.Errorf("%s: %d settings in its tables, want %d", file, seen, len(want))
		}
	}
}
