package webhook_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"time"

	"github.com/sessiondb/sessiondb/webhook"
)

// A receiver of sessiond's webhooks: it verifies the signature over the body
// exactly as received, then handles the event once per webhook-id.
func Example_receiver() {
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" // the endpoint's secret, from a secret store
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "cannot read the body", http.StatusBadRequest)
			return
		}
		if err := webhook.Verify(secret, r.Header, body, time.Now()); err != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		// Deliveries are at least once: skip an id already handled.
		fmt.Printf("event %s: %s\n", r.Header.Get(webhook.HeaderID), body)
		w.WriteHeader(http.StatusNoContent)
	})

	// What sessiond sends.
	id, body, now := "1764405438617-0-3d8-0", `{"id":"1764405438617-0-3d8-0","type":"created"}`, time.Now()
	sig, _ := webhook.Sign(secret, id, now, []byte(body))
	for _, signature := range []string{sig, "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc="} {
		req := httptest.NewRequest(http.MethodPost, "/hooks/sessions", strings.NewReader(body))
		req.Header.Set(webhook.HeaderID, id)
		req.Header.Set(webhook.HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
		req.Header.Set(webhook.HeaderSignature, signature)
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		fmt.Println(rec.Code)
	}
	// Output:
	// event 1764405438617-0-3d8-0: {"id":"1764405438617-0-3d8-0","type":"created"}
	// 204
	// 401
}
