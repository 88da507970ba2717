package httpsession_test

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/httpsession"
)

func TestStatusCode(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("httpsession: login: %w", err) }
	cases := []struct {
		err  error
		want int
	}{
		{nil, http.StatusOK},
		{httpsession.ErrCrossOrigin, http.StatusForbidden},
		{httpsession.ErrInsecureCookie, http.StatusForbidden},
		{httpsession.ErrNoSession, http.StatusUnauthorized},
		{wrap(sessiondb.ErrNotFound), http.StatusNotFound},
		{wrap(&sessiondb.InvalidArgumentError{Field: "user_id", Reason: "must not be empty"}), http.StatusBadRequest},
		{wrap(sessiondb.ErrSessionLimit), http.StatusConflict},
		{wrap(sessiondb.ErrUnavailable), http.StatusServiceUnavailable},
		{wrap(sessiondb.ErrStoreFull), http.StatusServiceUnavailable},
		{errors.New("anything else"), http.StatusServiceUnavailable},
	}
	for _, tc := range cases {
		if got := httpsession.StatusCode(tc.err); got != tc.want {
			t.Errorf("StatusCode(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
	if !errors.Is(httpsession.ErrNoSession, sessiondb.ErrNotFound) {
		t.Error("ErrNoSession does not match sessiondb.ErrNotFound")
	}
}
