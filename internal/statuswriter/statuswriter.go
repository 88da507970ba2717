// Package statuswriter wraps an http.ResponseWriter to learn the status of
// the answer, for logs, metrics and traces.
package statuswriter

import "net/http"

// Writer passes everything to the ResponseWriter it wraps and remembers
// the first status written.
type Writer struct {
	http.ResponseWriter
	status int
}

// WriteHeader implements http.ResponseWriter.
func (w *Writer) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write implements http.ResponseWriter: a body without a header is a 200.
func (w *Writer) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *Writer) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Started reports whether the answer has started: after it, nothing more
// can be said to the client but the rest of the body.
func (w *Writer) Started() bool { return w.status != 0 }

// Status returns the status of the answer: 200 when the handler wrote
// nothing, as net/http answers then.
func (w *Writer) Status() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}
