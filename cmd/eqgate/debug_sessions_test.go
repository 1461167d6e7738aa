package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/eqgate/eqgate"
)

// TestDebugSessions: against the running binary, /debug/sessions lists the
// live sessions ranked and filtered, in JSON and HTML, and
// /debug/sessions/{id} shows one; bad queries are 400, unknown IDs 404.
func TestDebugSessions(t *testing.T) {
	g := startGate(t, "-shards", "2")
	cfg := eqgate.Config{ConnectStale: waitBound / 2}
	var conns []*eqgate.Conn
	for cl := range 3 {
		h := newClient(cl + 1)
		c, err := eqgate.Dial(g.udp, cfg, h)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		for k := range cl + 1 {
			if err := c.Send(0, message(cl, k), true); err != nil {
				t.Fatal(err)
			}
		}
		select {
		case <-h.done:
		case <-time.After(waitBound):
			t.Fatalf("client %d: no echoes", cl)
		}
		conns = append(conns, c)
	}
	var list []sessionView
	getJSON(t, g.base+"/debug/sessions?order=age&format=json", &list)
	if len(list) != 3 {
		t.Fatalf("%d sessions listed", len(list))
	}
	for cl, v := range list { // oldest first: dial order
		port := ":" + strings.Split(conns[cl].LocalAddr().String(), ":")[1]
		if !strings.HasSuffix(v.Remote, port) || v.MessagesIn != uint64(cl+1) || v.Listen != g.udp || len(v.Streams) != 4 {
			t.Fatalf("row %d: %+v (want remote port %s)", cl, v, port)
		}
	}
	var top []sessionView
	getJSON(t, g.base+"/debug/sessions?order=resends&limit=1&ip=127.0.0.1&format=json", &top)
	if len(top) != 1 {
		t.Fatalf("limit 1: %d rows", len(top))
	}
	getJSON(t, g.base+"/debug/sessions?ip=127.0.0.2&format=json", &top)
	if len(top) != 0 {
		t.Fatalf("ip filter: %d rows", len(top))
	}

	var one sessionView
	getJSON(t, g.base+"/debug/sessions/"+list[2].ID+"?format=json", &one)
	if one.ID != list[2].ID || one.MessagesIn != 3 || one.Remote != list[2].Remote {
		t.Fatalf("one: %+v", one)
	}
	code, body := httpStatus(t, g.base+"/debug/sessions?order=rtt")
	if code != http.StatusOK || !strings.Contains(body, "<table>") || !strings.Contains(body, list[1].Remote) {
		t.Fatalf("HTML list %d:\n%s", code, body)
	}
	code, body = httpStatus(t, g.base+"/debug/sessions/"+list[0].ID+"?listen="+url.QueryEscape(g.udp))
	if code != http.StatusOK || !strings.Contains(body, "Session "+list[0].ID) {
		t.Fatalf("HTML one %d:\n%s", code, body)
	}
	for path, want := range map[string]int{
		"/debug/sessions?order=bogus":                         http.StatusBadRequest,
		"/debug/sessions?limit=0":                             http.StatusBadRequest,
		"/debug/sessions?ip=nope":                             http.StatusBadRequest,
		"/debug/sessions/1/2":                                 http.StatusBadRequest,
		"/debug/sessions/1/99999.77":                          http.StatusNotFound,
		"/debug/sessions/200/1.1":                             http.StatusNotFound, // no such shard
		"/debug/sessions/" + list[0].ID + "?listen=1.2.3.4:5": http.StatusNotFound,
	} {
		if code, body := httpStatus(t, g.base+path); code != want {
			t.Errorf("%s = %d %q, want %d", path, code, body, want)
		}
	}
}

func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("%s: %s %s", u, resp.Status, resp.Header.Get("Content-Type"))
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("%s: %v", u, err)
	}
}
