package memstore_test

import (
	"testing"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/memstore"
	"github.com/sessiondb/sessiondb/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(testing.TB) sessiondb.Store { return memstore.New() })
}

func TestTimeoutProperties(t *testing.T) {
	storetest.CheckTimeouts(t, func(testing.TB) sessiondb.Store { return memstore.New() }, 5000)
}
