package httpapi

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sessiondb/sessiondb"
)

// openAPIDocument is the part of an OpenAPI 3 document the tests read.
type openAPIDocument struct {
	OpenAPI string                                `json:"openapi"`
	Paths   map[string]map[string]json.RawMessage `json:"paths"`
	Comps   struct {
		Schemas map[string]schema `json:"schemas"`
	} `json:"components"`
}

type operation struct {
	OperationID string `json:"operationId"`
	RequestBody *struct {
		Content map[string]struct {
			Schema schema `json:"schema"`
		} `json:"content"`
	} `json:"requestBody"`
	Responses map[string]json.RawMessage `json:"responses"`
}

type schema struct {
	Ref      string   `json:"$ref"`
	Required []string `json:"required"`
}

var docMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

func loadOpenAPI(t *testing.T) (openAPIDocument, map[string]operation) {
	t.Helper()
	var doc openAPIDocument
	if err := json.Unmarshal(openAPIDoc, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi.json: openapi = %q, want 3.x", doc.OpenAPI)
	}
	ops := make(map[string]operation)
	for p, item := range doc.Paths {
		for _, m := range docMethods {
			raw, ok := item[m]
			if !ok {
				continue
			}
			var op operation
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Fatalf("openapi.json %s %s: %v", m, p, err)
			}
			ops[strings.ToUpper(m)+" "+p] = op
		}
	}
	return doc, ops
}

// TestOpenAPIMatchesRoutes checks that the document and the route table name
// the same calls.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	_, ops := loadOpenAPI(t)
	var served []string
	for _, rt := range routes() {
		if rt.console != consoleNone {
			continue // HTML pages for people, not the API
		}
		key := rt.Method + " " + rt.Path
		served = append(served, key)
		if _, ok := ops[key]; !ok {
			t.Errorf("route %s is not in openapi.json", key)
		}
	}
	for key := range ops {
		if !slices.Contains(served, key) {
			t.Errorf("openapi.json has %s, which is not a route", key)
		}
	}
	// The table, word for word.
	for _, key := range []string{
		"POST /v1/sessions", "POST /v1/sessions/validate", "POST /v1/sessions/refresh",
		"POST /v1/sessions/rotate", "POST /v1/sessions/invalidate",
		"GET /v1/sessions/{id}", "DELETE /v1/sessions/{id}",
		"GET /v1/users/{user_id}/sessions", "DELETE /v1/users/{user_id}/sessions",
		"GET /v1/stats", "POST /v1/cleanup",
		"GET /healthz", "GET /readyz", "GET /metrics", "GET /openapi.json",
	} {
		if _, ok := ops[key]; !ok {
			t.Errorf("openapi.json lacks %s", key)
		}
	}
}

// TestOpenAPIServed calls every operation of the document over HTTP, with
// fresh sessions and the bodies its schemas require, and checks that each is
// served (neither 404 nor 405) with a status the document lists.
func TestOpenAPIServed(t *testing.T) {
	doc, ops := loadOpenAPI(t)
	s := newTestServer(t, sessiondb.Options{}, nil)
	ts := httptest.NewServer(s)
	defer ts.Close()

	for key, op := range ops {
		t.Run(key, func(t *testing.T) {
			method, p, _ := strings.Cut(key, " ")
			user := "openapi/" + op.OperationID
			tok, id := createToken(t, s, user)
			p = strings.ReplaceAll(p, "{id}", id)
			p = strings.ReplaceAll(p, "{user_id}", url.PathEscape(user))
			var body io.Reader
			if op.RequestBody != nil {
				sch := op.RequestBody.Content["application/json"].Schema
				if name, ok := strings.CutPrefix(sch.Ref, "#/components/schemas/"); ok {
					sch = doc.Comps.Schemas[name]
				}
				fields := map[string]any{}
				for _, f := range sch.Required {
					switch f {
					case "token":
						fields[f] = tok
					case "user_id":
						fields[f] = user
					case "metadata":
						fields[f] = map[string]any{"device": "openapi", "gone": nil}
					default:
						t.Fatalf("no test value for required field %s", f)
					}
				}
				body = strings.NewReader(string(mustJSON(t, fields)))
			}
			req, err := http.NewRequest(method, ts.URL+p, body)
			if err != nil {
				t.Fatal(err)
			}
			if body != nil {
				req.Header.Set("Content-Type", "application/json")
			}
			resp, err := ts.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 404 || resp.StatusCode == 405 {
				t.Fatalf("%s %s: %d %s", method, p, resp.StatusCode, b)
			}
			if _, ok := op.Responses[strconv.Itoa(resp.StatusCode)]; !ok {
				t.Errorf("%s %s answered %d, which openapi.json does not list", method, p, resp.StatusCode)
			}
		})
	}
}
