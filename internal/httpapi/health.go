package httpapi

import (
	"context"
	_ "embed"
	"net/http"
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

// GET /readyz -> 200 when the store answers a ping, 503 when it does not or
// the server is shutting down.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	if s.shuttingDown.Load() {
		return errNotReady
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.readyTimeout)
	defer cancel()
	err := s.m.Ping(ctx)
	if was := s.storeReady.Swap(err == nil); was != (err == nil) {
		if err != nil {
			s.log.Warn("not ready: the session store does not answer", "err", err)
		} else {
			s.log.Info("ready: the session store answers again")
		}
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
