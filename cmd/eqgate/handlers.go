package main

import (
	"sync/atomic"

	"github.com/eqgate/eqgate"
)

// echo sends every message back reliably on the stream it came on;
// unreliable messages (stream -1) come back reliably on stream 0. Its
// callbacks run on shard goroutines, so the only shared state is an atomic
// counter.
type echo struct {
	// sendErrors counts echoes the engine refused (send queue full, session
	// closing); exported as eqgate_echo_send_errors_total.
	sendErrors atomic.Uint64
}

func (*echo) OnOpen(eqgate.Session) {}

func (e *echo) OnMessage(s eqgate.Session, stream int, data []byte) {
	if stream < 0 {
		stream = 0
	}
	if err := s.Send(stream, data, true); err != nil {
		e.sendErrors.Add(1)
	}
}

func (*echo) OnClose(eqgate.Session, eqgate.CloseReason) {}

// discard drops every message; the engine still acknowledges them.
type discard struct{}

func (discard) OnOpen(eqgate.Session)                      {}
func (discard) OnMessage(eqgate.Session, int, []byte)      {}
func (discard) OnClose(eqgate.Session, eqgate.CloseReason) {}

var (
	_ eqgate.Handler = (*echo)(nil)
	_ eqgate.Handler = discard{}
)
