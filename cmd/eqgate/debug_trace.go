package main

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/eqgate/eqgate"
	"github.com/eqgate/eqgate/pcap"
)

// tracePage serves /debug/trace?addr=IP[:PORT]&seconds=N: a pcap of every
// datagram that endpoint exchanges with any of the servers, both ways, as
// on the wire, streamed as it happens for N seconds (or until maxTraceBytes
// of datagrams, or the client goes away). One trace per server at a time.
// Each open session of the endpoint gets an X-Eqgate-Decode header with
// the flags `eqgate decode` needs to undo its passes.
type tracePage struct{ servers []*eqgate.Server }

const (
	defaultTraceSeconds = 10
	maxTraceSeconds     = 300
	maxTraceBytes       = 64 << 20
)

func (p *tracePage) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	ip, port, err := parseTraceAddr(q.Get("addr"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	seconds := defaultTraceSeconds
	if s := q.Get("seconds"); s != "" {
		if seconds, err = strconv.Atoi(s); err != nil || seconds < 1 || seconds > maxTraceSeconds {
			http.Error(w, fmt.Sprintf("seconds %q: want 1 to %d", s, maxTraceSeconds), http.StatusBadRequest)
			return
		}
	}
	var traces []*eqgate.Trace
	defer func() {
		for _, t := range traces {
			t.Stop()
		}
	}()
	for _, srv := range p.servers {
		t, err := srv.Trace(ip, port, maxTraceBytes)
		if err != nil {
			http.Error(w, fmt.Sprintf("%s: %v", srv.Addr(), err), http.StatusConflict)
			return
		}
		traces = append(traces, t)
	}
	p.decodeHeaders(r.Context(), w, ip, port)
	w.Header().Set("Content-Type", "application/vnd.tcpdump.pcap")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="eqgate-%s.pcap"`, strings.NewReplacer(":", "_", "[", "", "]", "").Replace(q.Get("addr"))))
	pw, err := pcap.NewWriter(w)
	if err != nil {
		return // the client went away
	}
	flush := func() {
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
	}
	flush()
	// One goroutine per server's trace feeds one channel, ending with the
	// request (stop closes it).
	type rec struct {
		r   eqgate.TraceRecord
		srv *eqgate.Server
	}
	ctx, cancel := context.WithTimeout(r.Context(), time.Duration(seconds)*time.Second)
	defer cancel()
	merged := make(chan rec, 256)
	for i, t := range traces {
		go func() {
			for {
				select {
				case x := <-t.C():
					select {
					case merged <- rec{x, p.servers[i]}:
					case <-ctx.Done():
						return
					}
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case x := <-merged:
			bound := x.srv.Addr()
			local := netip.AddrPortFrom(bound.Addr(), bound.Port())
			if x.r.Local.IsValid() {
				local = netip.AddrPortFrom(x.r.Local, bound.Port())
			}
			src, dst := x.r.Peer, local
			if x.r.Out {
				src, dst = local, x.r.Peer
			}
			if pw.WriteUDP(x.r.At, src, dst, x.r.Data) != nil {
				return
			}
		case <-tick.C:
			flush()
			full := true
			for _, t := range traces {
				full = full && t.Full()
			}
			if full {
				return
			}
		case <-ctx.Done():
			return
		}
	}
}

// parseTraceAddr reads "IP" (any port) or "IP:PORT".
func parseTraceAddr(s string) (netip.Addr, uint16, error) {
	if s == "" {
		return netip.Addr{}, 0, fmt.Errorf("addr: want IP or IP:PORT of the client to trace")
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), ap.Port(), nil
	}
	a, err := netip.ParseAddr(strings.Trim(s, "[]"))
	if err != nil {
		return netip.Addr{}, 0, fmt.Errorf("addr %q: want IP or IP:PORT", s)
	}
	return a.Unmap(), 0, nil
}

// decodeHeaders names, for each open session of the endpoint, the flags
// `eqgate decode` needs (its key is not in a trace that starts mid-session).
func (p *tracePage) decodeHeaders(ctx context.Context, w http.ResponseWriter, ip netip.Addr, port uint16) {
	ctx, cancel := context.WithTimeout(ctx, debugTimeout)
	defer cancel()
	for _, srv := range p.servers {
		got, err := srv.Sessions(ctx, eqgate.SessionQuery{IP: ip, Limit: 16})
		if err != nil {
			continue // the trace works without: decode learns keys from SessionResponses
		}
		for _, s := range got {
			if port != 0 && s.Remote.Port() != port {
				continue
			}
			w.Header().Add("X-Eqgate-Decode", fmt.Sprintf("%s -key %#08x -crc %d -encode %s -max %d",
				s.Remote, s.Wire.Key, s.Wire.CRCBytes, encodingName(s.Wire.Encode), s.Wire.MaxPacket))
		}
	}
}

// encodingName writes two pass names the way -encode reads them.
func encodingName(p [2]string) string {
	var parts []string
	for _, s := range p {
		if s != "none" {
			parts = append(parts, s)
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, "+")
}
