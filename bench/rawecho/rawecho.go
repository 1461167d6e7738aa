// Package rawecho is the floor eqgate's server is measured against: a UDP
// echo server on batchio with no protocol at all. Each shard goroutine reads
// a batch with recvmmsg and writes the same buffers back to their senders
// with one sendmmsg. Whatever eqgate spends per datagram beyond this is the
// cost of the protocol and the engine (bench/RESULTS.md).
//
// Buffers are the server's, allocated once per socket; nothing is shared
// between goroutines.
package rawecho

import (
	"errors"
	"net"
	"net/netip"
	"sync/atomic"

	"github.com/eqgate/eqgate/batchio"
)

// Server is a running raw echo server.
type Server struct {
	g    *batchio.Group
	done chan error

	// One add each per batch, not per datagram: what the benchmark needs
	// to compare wake-ups with eqgate's (its shard counters).
	batches, datagrams atomic.Uint64
}

// Listen binds a reuseport group of n sockets on addr and echoes on each.
func Listen(addr netip.AddrPort, n, batch int) (*Server, error) {
	g, err := batchio.Open(addr, batchio.Options{Sockets: n, Batch: batch, RecvBuffer: 4 << 20, SendBuffer: 4 << 20})
	if err != nil {
		return nil, err
	}
	s := &Server{g: g, done: make(chan error, n)}
	for _, c := range g.Conns() {
		go func() { s.done <- s.serve(c, g.Facts().Batch) }()
	}
	return s, nil
}

// Addr is the bound address.
func (s *Server) Addr() netip.AddrPort { return s.g.Facts().Addr }

// Close closes the sockets and waits for the goroutines.
func (s *Server) Close() error {
	err := s.g.Close()
	for range s.g.Len() {
		if e := <-s.done; e != nil && err == nil {
			err = e
		}
	}
	return err
}

// Stats returns the receive batches and datagrams echoed so far.
func (s *Server) Stats() (batches, datagrams uint64) {
	return s.batches.Load(), s.datagrams.Load()
}

func (s *Server) serve(c *batchio.Conn, batch int) error {
	msgs := make([]batchio.Message, batch)
	for i := range msgs {
		msgs[i].Buf = make([]byte, 2048)
	}
	for {
		n, err := c.ReadBatch(msgs)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			if errors.Is(err, batchio.ErrWakeup) {
				continue
			}
			return err
		}
		s.batches.Add(1)
		s.datagrams.Add(uint64(n))
		// Addr already names the sender: write the batch straight back.
		var de *batchio.DropError
		if _, err := c.WriteBatch(msgs[:n]); err != nil && !errors.As(err, &de) {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
	}
}
