package main

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/sessiondb/sessiondb/internal/wire"
	"github.com/sessiondb/sessiondb/internal/wire/wiretest"
)

// TestSessionJSON holds show --json's object to the golden file of the
// API's session object, which sessiond's and the clients' tests read too.
func TestSessionJSON(t *testing.T) {
	var buf bytes.Buffer
	if err := writeJSON(&buf, wire.FromSession(wiretest.Session(), false)); err != nil {
		t.Fatal(err)
	}
	var got, want map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("%s: %v", buf.Bytes(), err)
	}
	if err := json.Unmarshal(wiretest.Golden, &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("show --json writes\n%s\nwant the API's\n%s", buf.Bytes(), wiretest.Golden)
	}
}
