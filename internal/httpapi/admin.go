package httpapi

import (
	"net/http"
	"strconv"
	"time"
)

// GET /v1/stats -> 200 {total_sessions, active_sessions, expired_sessions,
// users, created, invalidated, evicted, memory_used_bytes,
// memory_max_bytes, event_entries, event_memory_bytes, revocations,
// revocation_memory_bytes}. Admin only.
func (s *Server) stats(w http.ResponseWriter, r *http.Request) error {
	st, err := s.m.Stats(r.Context())
	if err != nil {
		return err
	}
	b := make([]byte, 0, 256)
	for i, f := range []struct {
		name string
		v    int64
	}{
		{"total_sessions", st.Total},
		{"active_sessions", st.Active},
		{"expired_sessions", st.Expired},
		{"users", st.Users},
		{"created", st.Created},
		{"invalidated", st.Invalidated},
		{"evicted", st.Evicted},
		{"memory_used_bytes", st.MemoryUsed},
		{"memory_max_bytes", st.MemoryMax},
		{"event_entries", st.EventEntries},
		{"event_memory_bytes", st.EventBytes},
		{"revocations", st.Revocations},
		{"revocation_memory_bytes", st.RevocationBytes},
	} {
		if i == 0 {
			b = append(b, '{')
		} else {
			b = append(b, ',')
		}
		b = appendString(b, f.name)
		b = append(b, ':')
		b = strconv.AppendInt(b, f.v, 10)
	}
	writeJSON(w, http.StatusOK, append(b, "}\n"...))
	return nil
}

// cleanupRequest is the optional body of POST /v1/cleanup: an empty object.
type cleanupRequest struct{}

// POST /v1/cleanup -> 200 {"cleaned": n}. Admin only.
func (s *Server) cleanup(w http.ResponseWriter, r *http.Request) error {
	if err := s.decode(r, &cleanupRequest{}, true); err != nil {
		return err
	}
	start := time.Now()
	n, err := s.m.Cleanup(r.Context())
	s.metrics.CleanupDone(n, time.Since(start), err)
	if err != nil {
		return err
	}
	b := append([]byte(`{"cleaned":`), strconv.Itoa(n)...)
	writeJSON(w, http.StatusOK, append(b, "}\n"...))
	return nil
}
