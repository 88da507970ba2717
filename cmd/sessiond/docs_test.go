package main

import (
	"context"
	"os"
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
