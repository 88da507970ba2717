package memstore_test

import (
	"testing"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/memstore"
	"github.com/sessiondb/sessiondb/storetest"
)

func TestEventConformance(t *testing.T) {
	storetest.RunEvents(t, func(tb testing.TB, opt sessiondb.EventOptions) sessiondb.Store {
		s, err := memstore.NewWithOptions(memstore.Options{Events: &opt})
		if err != nil {
			tb.Fatal(err)
		}
		return s
	})
}
