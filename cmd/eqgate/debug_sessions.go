package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/eqgate/eqgate"
)

// sessionsPage serves /debug/sessions (a ranked list) and
// /debug/sessions/{id} (one session) from every server's shards. Each
// request asks the shards through their inboxes, so it never touches
// session state from this goroutine; it gives up after debugTimeout.
type sessionsPage struct{ servers []*eqgate.Server }

const (
	debugTimeout     = 2 * time.Second
	defaultListLimit = 50
	maxListLimit     = 1000
)

// sessionView is a session as the pages show it: durations in seconds
// (JSON numbers), the listener it belongs to.
type sessionView struct {
	Listen          string        `json:"listen"`
	ID              string        `json:"id"`
	Remote          string        `json:"remote"`
	State           string        `json:"state"`
	AgeSeconds      float64       `json:"age_seconds"`
	IdleSeconds     float64       `json:"idle_seconds"`
	RTTMinSeconds   float64       `json:"rtt_min_seconds"`
	RTTAvgSeconds   float64       `json:"rtt_avg_seconds"`
	RTTMaxSeconds   float64       `json:"rtt_max_seconds"`
	RTTLastSeconds  float64       `json:"rtt_last_seconds"`
	RTTRecent       float64       `json:"rtt_recent_seconds"`
	RTTSamples      uint64        `json:"rtt_samples"`
	LossIn          *float64      `json:"loss_in"`  // null until the peer sent its figures
	LossOut         *float64      `json:"loss_out"` // null until the peer sent its figures
	ResendRatio     float64       `json:"resend_ratio"`
	Resends         uint64        `json:"resends"`
	ResentBytes     uint64        `json:"resent_bytes"`
	DatagramsIn     uint64        `json:"datagrams_in"`
	DatagramsOut    uint64        `json:"datagrams_out"`
	BytesIn         uint64        `json:"bytes_in"`
	BytesOut        uint64        `json:"bytes_out"`
	MessagesIn      uint64        `json:"messages_in"`
	MessagesOut     uint64        `json:"messages_out"`
	MessageBytesIn  uint64        `json:"message_bytes_in"`
	MessageBytesOut uint64        `json:"message_bytes_out"`
	CompressionIn   float64       `json:"compression_in"`
	CompressionOut  float64       `json:"compression_out"`
	Duplicates      uint64        `json:"duplicates"`
	OutOfOrder      uint64        `json:"out_of_order"`
	Dropped         uint64        `json:"dropped"`
	Unacked         int           `json:"unacked_bytes"`
	Streams         []streamQueue `json:"streams"`
}

type streamQueue struct {
	InFlight int `json:"in_flight"`
	Reorder  int `json:"reorder"`
	Fragment int `json:"fragment_bytes"`
}

func viewOf(listen string, s *eqgate.SessionStats) sessionView {
	v := sessionView{
		Listen: listen, ID: s.ID.String(), Remote: s.Remote.String(), State: s.State,
		AgeSeconds: s.Age.Seconds(), IdleSeconds: s.Idle.Seconds(),
		RTTMinSeconds: s.RTTMin.Seconds(), RTTAvgSeconds: s.RTTAvg.Seconds(), RTTMaxSeconds: s.RTTMax.Seconds(),
		RTTLastSeconds: s.RTTLast.Seconds(), RTTRecent: s.RTTRecent.Seconds(), RTTSamples: s.RTTSamples,
		ResendRatio: s.ResendRatio, Resends: s.Resends, ResentBytes: s.ResentBytes,
		DatagramsIn: s.DatagramsIn, DatagramsOut: s.DatagramsOut, BytesIn: s.BytesIn, BytesOut: s.BytesOut,
		MessagesIn: s.MessagesIn, MessagesOut: s.MessagesOut,
		MessageBytesIn: s.MessageBytesIn, MessageBytesOut: s.MessageBytesOut,
		CompressionIn: s.CompressionIn, CompressionOut: s.CompressionOut,
		Duplicates: s.Duplicates, OutOfOrder: s.OutOfOrder, Dropped: s.Dropped, Unacked: s.Unacked,
	}
	if s.LossKnown {
		in, out := s.LossIn, s.LossOut
		v.LossIn, v.LossOut = &in, &out
	}
	for _, q := range s.Streams {
		v.Streams = append(v.Streams, streamQueue(q))
	}
	return v
}

func (p *sessionsPage) list(w http.ResponseWriter, r *http.Request) {
	q, err := parseListQuery(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), debugTimeout)
	defer cancel()
	type row struct {
		listen string
		s      eqgate.SessionStats
	}
	var rows []row
	for _, srv := range p.servers {
		got, err := srv.Sessions(ctx, q)
		if err != nil {
			http.Error(w, fmt.Sprintf("%s: %v", srv.Addr(), err), http.StatusServiceUnavailable)
			return
		}
		for i := range got {
			rows = append(rows, row{srv.Addr().String(), got[i]})
		}
	}
	// Each server ranked its own; rank across servers the same way.
	slices.SortStableFunc(rows, func(a, b row) int { return q.Order.Compare(&a.s, &b.s) })
	views := []sessionView{} // [] rather than null in JSON
	for i := range rows[:min(len(rows), q.Limit)] {
		views = append(views, viewOf(rows[i].listen, &rows[i].s))
	}
	if wantJSON(r) {
		writeJSON(w, views)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	ip := ""
	if q.IP.IsValid() {
		ip = q.IP.String()
	}
	if err := listPage.Execute(w, listData{Order: q.Order.String(), Limit: q.Limit, IP: ip, Sessions: views}); err != nil {
		return // the client went away mid-page
	}
}

func parseListQuery(r *http.Request) (eqgate.SessionQuery, error) {
	v := r.URL.Query()
	q := eqgate.SessionQuery{Order: eqgate.ByLoss, Limit: defaultListLimit}
	if s := v.Get("order"); s != "" {
		o, ok := eqgate.ParseSessionOrder(s)
		if !ok {
			return q, fmt.Errorf("order %q: want loss, rtt, resends or age", s)
		}
		q.Order = o
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxListLimit {
			return q, fmt.Errorf("limit %q: want 1 to %d", s, maxListLimit)
		}
		q.Limit = n
	}
	if s := v.Get("ip"); s != "" {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return q, fmt.Errorf("ip %q: %v", s, err)
		}
		q.IP = a
	}
	return q, nil
}

func (p *sessionsPage) one(w http.ResponseWriter, r *http.Request) {
	id, err := eqgate.ParseSessionID(r.PathValue("id"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	listen := r.URL.Query().Get("listen")
	ctx, cancel := context.WithTimeout(r.Context(), debugTimeout)
	defer cancel()
	var found []sessionView
	for _, srv := range p.servers {
		if listen != "" && srv.Addr().String() != listen {
			continue
		}
		if id.Shard() >= srv.Shards() {
			continue
		}
		s, err := srv.SessionStats(ctx, id)
		if errors.Is(err, eqgate.ErrNoSession) {
			continue
		}
		if err != nil {
			http.Error(w, fmt.Sprintf("%s: %v", srv.Addr(), err), http.StatusServiceUnavailable)
			return
		}
		found = append(found, viewOf(srv.Addr().String(), &s))
	}
	switch {
	case len(found) == 0:
		http.Error(w, "no such session: "+id.String(), http.StatusNotFound)
		return
	case len(found) > 1:
		// IDs are per server: several listeners may each have this one.
		http.Error(w, "session "+id.String()+" exists on several listeners; add ?listen=ADDR", http.StatusConflict)
		return
	}
	if wantJSON(r) {
		writeJSON(w, found[0])
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = onePage.Execute(w, found[0]) // an error is a client gone mid-page
}

// wantJSON: ?format=json, or an Accept header naming JSON and not HTML.
func wantJSON(r *http.Request) bool {
	if f := r.URL.Query().Get("format"); f != "" {
		return f == "json"
	}
	a := r.Header.Get("Accept")
	return strings.Contains(a, "application/json") && !strings.Contains(a, "text/html")
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // an error is a client gone mid-answer
}

type listData struct {
	Order    string
	Limit    int
	IP       string
	Sessions []sessionView
}

var funcs = template.FuncMap{
	"ms":  func(s float64) string { return strconv.FormatFloat(s*1000, 'f', 1, 64) },
	"pct": func(f float64) string { return strconv.FormatFloat(f*100, 'f', 2, 64) + "%" },
	"ppct": func(f *float64) string {
		if f == nil {
			return "–"
		}
		return strconv.FormatFloat(*f*100, 'f', 2, 64) + "%"
	},
	"dur":  func(s float64) string { return time.Duration(s * float64(time.Second)).Round(time.Second).String() },
	"list": func() []string { return []string{"loss", "rtt", "resends", "age"} },
}

const pageStyle = `<style>body{font-family:sans-serif;margin:1em}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}th{background:#eee}td.l{text-align:left}</style>`

var listPage = template.Must(template.New("list").Funcs(funcs).Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>eqgate sessions</title>` + pageStyle + `</head><body>
<h1>Sessions</h1>
<form method="get">order <select name="order">{{range $o := (list)}}<option{{if eq $o $.Order}} selected{{end}}>{{$o}}</option>{{end}}</select>
limit <input name="limit" size="4" value="{{.Limit}}"> ip <input name="ip" size="15" value="{{.IP}}">
<button>show</button> <a href="?order={{.Order}}&amp;limit={{.Limit}}&amp;ip={{.IP}}&amp;format=json">JSON</a></form>
<p>{{len .Sessions}} sessions, top by {{.Order}}. Loss: from the client's stat requests (– until one came); resend ratio: resends per datagram sent.</p>
<table><tr><th>listen</th><th>id</th><th>remote</th><th>state</th><th>age</th><th>idle</th><th>rtt min/avg/max ms</th><th>recent ms</th>
<th>loss in</th><th>loss out</th><th>resends</th><th>resend ratio</th><th>msgs in/out</th><th>bytes in/out</th><th>unacked</th></tr>
{{range .Sessions}}<tr><td class="l">{{.Listen}}</td><td class="l"><a href="/debug/sessions/{{.ID}}?listen={{.Listen}}">{{.ID}}</a></td><td class="l">{{.Remote}}</td><td class="l">{{.State}}</td>
<td>{{dur .AgeSeconds}}</td><td>{{dur .IdleSeconds}}</td><td>{{ms .RTTMinSeconds}} / {{ms .RTTAvgSeconds}} / {{ms .RTTMaxSeconds}}</td><td>{{ms .RTTRecent}}</td>
<td>{{ppct .LossIn}}</td><td>{{ppct .LossOut}}</td><td>{{.Resends}}</td><td>{{pct .ResendRatio}}</td><td>{{.MessagesIn}} / {{.MessagesOut}}</td><td>{{.BytesIn}} / {{.BytesOut}}</td><td>{{.Unacked}}</td></tr>
{{end}}</table></body></html>
`))

var onePage = template.Must(template.New("one").Funcs(funcs).Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>eqgate session {{.ID}}</title>` + pageStyle + `</head><body>
<h1>Session {{.ID}} from {{.Remote}}</h1>
<p><a href="/debug/sessions">all sessions</a> · <a href="?listen={{.Listen}}&amp;format=json">JSON</a></p>
<table>
<tr><th>listen</th><td class="l">{{.Listen}}</td></tr>
<tr><th>state</th><td class="l">{{.State}}</td></tr>
<tr><th>age / idle</th><td>{{dur .AgeSeconds}} / {{dur .IdleSeconds}}</td></tr>
<tr><th>RTT min / avg / max / last ms</th><td>{{ms .RTTMinSeconds}} / {{ms .RTTAvgSeconds}} / {{ms .RTTMaxSeconds}} / {{ms .RTTLastSeconds}} ({{.RTTSamples}} samples)</td></tr>
<tr><th>RTT recent (rolling ping) ms</th><td>{{ms .RTTRecent}}</td></tr>
<tr><th>loss in / out</th><td>{{ppct .LossIn}} / {{ppct .LossOut}}</td></tr>
<tr><th>resends (bytes), ratio</th><td>{{.Resends}} ({{.ResentBytes}}), {{pct .ResendRatio}}</td></tr>
<tr><th>datagrams in / out</th><td>{{.DatagramsIn}} / {{.DatagramsOut}}</td></tr>
<tr><th>wire bytes in / out</th><td>{{.BytesIn}} / {{.BytesOut}}</td></tr>
<tr><th>messages in / out</th><td>{{.MessagesIn}} / {{.MessagesOut}}</td></tr>
<tr><th>message bytes in / out</th><td>{{.MessageBytesIn}} / {{.MessageBytesOut}}</td></tr>
<tr><th>wire/decoded in / out</th><td>{{printf "%.3f" .CompressionIn}} / {{printf "%.3f" .CompressionOut}}</td></tr>
<tr><th>duplicates / out of order / dropped</th><td>{{.Duplicates}} / {{.OutOfOrder}} / {{.Dropped}}</td></tr>
<tr><th>unacked bytes</th><td>{{.Unacked}}</td></tr>
{{range $i, $q := .Streams}}<tr><th>stream {{$i}} in flight / reorder / fragment bytes</th><td>{{$q.InFlight}} / {{$q.Reorder}} / {{$q.Fragment}}</td></tr>
{{end}}</table></body></html>
`))
