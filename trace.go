package eqgate

import (
	"errors"
	"net/netip"

	"github.com/eqgate/eqgate/proto"
	"github.com/eqgate/eqgate/shard"
)

// ErrTraceBusy: another trace of this server is running (one at a time).
var ErrTraceBusy = errors.New("eqgate: a trace is already running on this server")

// TraceRecord is one datagram of a trace, as on the wire.
type TraceRecord = shard.TapRecord

// Trace copies the datagrams one endpoint exchanges with a server.
type Trace struct {
	srv *Server
	tap *shard.Tap
}

// Trace starts copying every datagram to and from ip (and port, unless 0)
// as the server's sockets read and write them, up to maxBytes of datagrams
// in all, into C. A slow reader loses records (Dropped), never datagrams:
// the shards do not wait for it. Stop ends it; ErrTraceBusy while another
// runs. Tracing costs the shards one atomic load per datagram when off.
func (s *Server) Trace(ip netip.Addr, port uint16, maxBytes int64) (*Trace, error) {
	t := shard.NewTap(ip, port, maxBytes, 4096)
	if !s.g.InstallTap(t) {
		return nil, ErrTraceBusy
	}
	return &Trace{srv: s, tap: t}, nil
}

// C delivers the records, in order per shard.
func (t *Trace) C() <-chan TraceRecord { return t.tap.C() }

// Dropped counts records lost: the reader was behind, or maxBytes was spent.
func (t *Trace) Dropped() uint64 { return t.tap.Dropped() }

// Full reports whether maxBytes is spent: nothing more will come.
func (t *Trace) Full() bool { return t.tap.Spent() }

// Stop ends the trace (a record or two may still arrive on C).
func (t *Trace) Stop() { t.srv.g.RemoveTap(t.tap) }

// Passes are e's two passes in order, for code that decodes datagrams
// itself (eqgate decode).
func (e Encoding) Passes() [2]proto.Pass { return e.passes() }
