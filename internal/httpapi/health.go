package httpapi

import (
	"context"
	_ "embed"
	"errors"
	"net/http"

	"github.com/sessiondb/sessiondb"
)

// openAPIDoc is the OpenAPI 3 document of the API, served at /openapi.json.
//
//go:embed openapi.json
var openAPIDoc []byte

var statusOK = []byte(`{"status":"ok"}` + "\n")

// GET /healthz -> 200 while the process runs. It checks nothing else, so that
// a store outage never gets the process restarted.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, statusOK)
	return nil
}

// GET /readyz -> 200 when the store answers a ping, 503 when it does not,
// refuses access (with the cause, and no Retry-After), or the server is
// shutting down.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	if s.shuttingDown.Load() {
		return errNotReady
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.readyTimeout)
	defer cancel()
	err := s.m.Ping(ctx)
	denied := errors.Is(err, sessiondb.ErrStoreAuth)
	if was := s.storeReady.Swap(err == nil); was != (err == nil) {
		switch {
		case denied:
			s.log.Error("not ready: the session store refuses access", "err", err)
		case err != nil:
			s.log.Warn("not ready: the session store does not answer", "err", err)
		default:
			s.log.Info("ready: the session store answers again")
		}
	}
	if denied {
		// The cause, for whoever looks at the probe: Redis's own refusal,
		// which names the user but holds no secret.
		return &apiError{status: http.StatusServiceUnavailable, code: CodeStoreMisconfigured, cause: err,
			message: "the session store refuses access (check REDIS_USERNAME and the password): " + err.Error()}
	}
	if err != nil {
		return &apiError{status: http.StatusServiceUnavailable, code: CodeUnavailable, cause: err,
			message: "the session store does not answer"}
	}
	writeJSON(w, http.StatusOK, statusOK)
	return nil
}

// GET /metrics -> the Prometheus text format.
func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) error {
	s.metricsH.ServeHTTP(w, r)
	return nil
}

// GET /openapi.json -> the API document.
func (s *Server) openAPI(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, openAPIDoc)
	return nil
}
