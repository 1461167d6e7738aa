package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/eqgate/eqgate"
)

// TestHealth runs the /healthz handler against in-process servers: 200
// while every shard answers, 503 while draining, 503 naming the shard once
// a server is closed.
func TestHealth(t *testing.T) {
	srv, err := eqgate.Listen("127.0.0.1:0", eqgate.Config{Shards: 2}, discard{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	h := &health{servers: []*eqgate.Server{srv}}
	get := func() (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
		return rec.Code, rec.Body.String()
	}

	if code, body := get(); code != http.StatusOK || !strings.Contains(body, "2 shards running") {
		t.Errorf("running: %d %q", code, body)
	}
	h.draining.Store(true)
	if code, body := get(); code != http.StatusServiceUnavailable || !strings.Contains(body, "draining") {
		t.Errorf("draining: %d %q", code, body)
	}
	h.draining.Store(false)
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if code, body := get(); code != http.StatusServiceUnavailable || !strings.Contains(body, "shard 0") || !strings.Contains(body, "shard 1") {
		t.Errorf("closed: %d %q", code, body)
	}
}
