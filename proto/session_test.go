package proto

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/eqgate/eqgate/pool"
)

// capSink records every datagram it is given (copied).
type capSink struct {
	buf []byte
	out [][]byte
}

func (k *capSink) Buffer() []byte {
	if k.buf == nil {
		k.buf = make([]byte, 0, MaxDatagram)
	}
	return k.buf[:0]
}

func (k *capSink) Send(d []byte) { k.out = append(k.out, append([]byte(nil), d...)) }

func (k *capSink) take() [][]byte {
	o := k.out
	k.out = nil
	return o
}

type delivery struct {
	stream int
	app    []byte
}

// recHandler records callbacks; echo makes it send every app back reliably
// on its stream (or 0). With backOff, a Send refused with ErrSendQueueFull
// (the documented back-pressure of a peer that does not ack) is counted in
// full; any other refusal panics.
type recHandler struct {
	env      *Env
	now      *Nanotime
	opened   int
	closed   []CloseReason
	got      []delivery
	echo     bool
	backOff  bool
	full     int
	keepData bool
}

func (h *recHandler) Opened(s *Session) { h.opened++ }
func (h *recHandler) Deliver(s *Session, stream int, app []byte) {
	if h.keepData {
		h.got = append(h.got, delivery{stream, append([]byte(nil), app...)})
	}
	if h.echo {
		st := max(stream, 0)
		err := s.Send(h.env, *h.now, st, app, true)
		switch {
		case err == nil:
		case h.backOff && errors.Is(err, ErrSendQueueFull):
			h.full++
		default:
			panic(err)
		}
	}
}
func (h *recHandler) Closed(s *Session, r CloseReason) { h.closed = append(h.closed, r) }

type peer struct {
	s    Session
	env  Env
	sink capSink
	h    recHandler
	pool pool.Sized
	now  Nanotime
}

func newPeer() *peer {
	p := &peer{}
	p.env = Env{Coder: &Coder{}, Sink: &p.sink, Handler: &p.h, Alloc: &p.pool}
	p.h.env = &p.env
	p.h.now = &p.now
	p.h.keepData = true
	return p
}

func mustCfg(t testing.TB, c Config) *Config {
	t.Helper()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	return &c
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// handshake connects a client and a server peer and returns them.
func handshake(t testing.TB, cfg *Config, now Nanotime) (c, s *peer) {
	t.Helper()
	c, s = newPeer(), newPeer()
	c.now, s.now = now, now
	if err := c.s.InitClient(cfg, 0xcafebabe, now); err != nil {
		t.Fatal(err)
	}
	c.s.Tick(&c.env, now)
	req := c.sink.take()
	if len(req) != 1 || ClassifyNoSession(req[0]) != NoSessionCreate {
		t.Fatalf("client sent %x", req)
	}
	if err := s.s.InitServer(cfg, 0x12345678, now); err != nil {
		t.Fatal(err)
	}
	s.s.Receive(&s.env, now, req[0])
	resp := s.sink.take()
	if len(resp) != 1 {
		t.Fatalf("server sent %d datagrams", len(resp))
	}
	c.s.Receive(&c.env, now, resp[0])
	// The client proves the key at once (a keepalive with its CRC), as a
	// stateless server needs before it holds anything.
	ka := c.sink.take()
	if len(ka) != 1 || ka[0][1] != byte(OpKeepAlive) {
		t.Fatalf("client sent %x after the response, want one keepalive", ka)
	}
	s.s.Receive(&s.env, now, ka[0])
	if c.s.State() != StateConnected || s.s.State() != StateConnected || c.h.opened != 1 || s.h.opened != 1 {
		t.Fatalf("states %v %v opened %d %d", c.s.State(), s.s.State(), c.h.opened, s.h.opened)
	}
	if c.s.Params() != s.s.Params() {
		t.Fatalf("params differ: %+v %+v", c.s.Params(), s.s.Params())
	}
	return c, s
}

// pump delivers every pending datagram both ways until quiet.
func pump(t testing.TB, a, b *peer) {
	for i := 0; i < 1000; i++ {
		a.s.Flush(&a.env, a.now)
		b.s.Flush(&b.env, b.now)
		ao, bo := a.sink.take(), b.sink.take()
		if len(ao) == 0 && len(bo) == 0 {
			return
		}
		for _, d := range ao {
			b.s.Receive(&b.env, b.now, d)
		}
		for _, d := range bo {
			a.s.Receive(&a.env, a.now, d)
		}
	}
	t.Fatal("pump did not settle")
}

func TestSessionHandshakeAndEcho(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"default", DefaultConfig()},
		{"zone", ZoneConfig()},
		{"xor", func() Config { c := ZoneConfig(); c.EncodePasses = [2]Pass{PassCompress, PassXOR}; return c }()},
		{"crc4", func() Config { c := DefaultConfig(); c.CRCBytes = 4; return c }()},
		{"crc0", func() Config { c := DefaultConfig(); c.CRCBytes = 0; return c }()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := mustCfg(t, tc.cfg)
			c, s := handshake(t, cfg, 1000)
			s.h.echo = true
			msgs := [][]byte{{1}, {0, 0x15, 1, 2}, bytes.Repeat([]byte{7}, 300), bytes.Repeat([]byte{0, 9}, 3000)}
			for i, m := range msgs {
				if err := c.s.Send(&c.env, c.now, i%4, m, true); err != nil {
					t.Fatal(err)
				}
			}
			if err := c.s.Send(&c.env, c.now, 0, []byte{0x47, 2, 'u'}, false); err != nil {
				t.Fatal(err)
			}
			pump(t, c, s)
			if len(s.h.got) != 5 || len(c.h.got) != 5 {
				t.Fatalf("server got %d, client got %d", len(s.h.got), len(c.h.got))
			}
			for i, m := range msgs {
				if !bytes.Equal(s.h.got[i].app, m) || s.h.got[i].stream != i%4 || !bytes.Equal(c.h.got[i].app, m) {
					t.Fatalf("message %d mismatch", i)
				}
			}
			if s.h.got[4].stream != Unsequenced {
				t.Fatalf("unreliable arrived on stream %d", s.h.got[4].stream)
			}
			if c.s.Unacked() != 0 || s.s.Unacked() != 0 {
				t.Fatalf("unacked %d %d", c.s.Unacked(), s.s.Unacked())
			}
		})
	}
}
