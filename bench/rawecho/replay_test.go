package rawecho

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eqgate/eqgate/proto"
)

// BenchmarkServerCPU compares the servers under different clients (eqgate
// sessions against eqgate, bare UDP against raw), so the arrival pattern
// differs. BenchmarkServerCPUReplay removes that difference: one replay
// client, built on package proto, sends the identical datagram stream to
// both servers, alternating between them within one run.

// replaySession is one client session of the replay generator: its own
// socket, the wire parameters eqgate negotiated, and its send state. The
// raw echo gets sessions with the same parameters (it answers no
// handshake), so both servers see the same bytes.
type replaySession struct {
	conn   *net.UDPConn
	params proto.Params
	coder  proto.Coder

	next   proto.Seq // our next sequence number
	expect proto.Seq // next peer sequence we take as an echo
	acking bool      // a peer sequence has arrived: acks ride along

	sent  [][]byte // encoded datagrams by seq % window, for resends
	app   []byte   // the escaped 64-byte message
	pkt   []byte   // scratch: decoded packet
	elem  []byte   // scratch: one element
	rbuf  []byte
	burst int // resends in a row without progress
}

const replayMsgSize = 64

func newReplaySession(b *testing.B, addr string, window int, params *proto.Params) *replaySession {
	ua, err := net.ResolveUDPAddr("udp4", addr)
	if err != nil {
		b.Fatal(err)
	}
	conn, err := net.DialUDP("udp4", nil, ua)
	if err != nil {
		b.Fatal(err)
	}
	msg := make([]byte, replayMsgSize)
	msg[0] = 0x50 // a 2-byte app opcode that needs no escape
	s := &replaySession{conn: conn, app: proto.AppendEscaped(nil, msg), rbuf: make([]byte, 2048), sent: make([][]byte, window)}
	for i := range s.sent {
		s.sent[i] = make([]byte, 0, 256)
	}
	if params != nil {
		s.params = *params
		return s
	}
	// Handshake by hand (SPEC §5.1, §5.2).
	req := proto.SessionRequest{ProtocolVersion: 3, ConnectCode: rand.Uint32(), MaxPacketSize: 512}
	for try := 0; ; try++ {
		if _, err := conn.Write(req.AppendTo(nil)); err != nil {
			b.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		n, err := conn.Read(s.rbuf)
		if err != nil {
			if try < 5 {
				continue
			}
			b.Fatal("no SessionResponse: ", err)
		}
		resp, err := proto.ParseSessionResponse(s.rbuf[:n])
		if err != nil {
			b.Fatal(err)
		}
		if s.params, err = proto.NewParams(resp.Key, int(resp.CRCBytes), resp.Passes, int(resp.MaxPacketSize)); err != nil {
			b.Fatal(err)
		}
		return s
	}
}

// send encodes and writes our next data packet: an OP_Combined of a
// cumulative ack for the last peer sequence taken and the OP_Packet, so
// every message is one datagram whatever the server.
func (s *replaySession) send() {
	s.pkt = s.pkt[:0]
	if s.acking {
		s.pkt = proto.AppendCombinedHeader(s.pkt)
		s.elem = proto.AppendAck(s.elem[:0], 0, s.expect-1)
		s.pkt = proto.AppendCombinedElement(s.pkt, s.elem)
		s.elem = proto.AppendPacket(s.elem[:0], 0, s.next, s.app)
		s.pkt = proto.AppendCombinedElement(s.pkt, s.elem)
	} else {
		s.pkt = proto.AppendPacket(s.pkt, 0, s.next, s.app)
	}
	i := int(s.next) % len(s.sent)
	s.sent[i] = s.coder.AppendEncode(&s.params, s.sent[i][:0], s.pkt)
	_, _ = s.conn.Write(s.sent[i])
	s.next++
}

// ackAll acks every echo taken, so eqgate has nothing left to resend
// while the other server has its turn. The raw echo gets the same datagram.
func (s *replaySession) ackAll() {
	if !s.acking {
		return
	}
	s.pkt = proto.AppendAck(s.pkt[:0], 0, s.expect-1)
	s.elem = s.coder.AppendEncode(&s.params, s.elem[:0], s.pkt)
	_, _ = s.conn.Write(s.elem)
}

// resend writes the unechoed datagrams again, oldest first.
func (s *replaySession) resend(inflight int) {
	for k := inflight; k > 0; k-- {
		_, _ = s.conn.Write(s.sent[int(s.next-proto.Seq(k))%len(s.sent)])
	}
}

// take decodes one reply datagram and returns how many echoes it carried
// in order. For eqgate these are its reliable echoes (its acks are
// skipped); for the raw echo they are our own packets coming back, which
// decode the same way with the same parameters.
func (s *replaySession) take(d []byte) int {
	pkt, err := s.coder.Decode(&s.params, d)
	if err != nil || len(pkt) < 2 {
		return 0
	}
	if proto.Opcode(pkt[1]) != proto.OpCombined {
		return s.takeOne(pkt)
	}
	n := 0
	it := proto.NewCombinedIter(pkt)
	for e, ok := it.Next(); ok; e, ok = it.Next() {
		n += s.takeOne(e)
	}
	return n
}

func (s *replaySession) takeOne(p []byte) int {
	base, stream, seq, err := proto.ParseSeq(p)
	if err != nil || base != proto.OpPacket || stream != 0 || seq != s.expect {
		return 0 // an ack, or a duplicate from a resend
	}
	s.expect++
	s.acking = true
	return 1
}

var errReplayStuck = errors.New("replay session made no progress for 5 s")

// run keeps window messages unechoed until budget runs out and returns the
// echoes taken and the resends made.
func (s *replaySession) run(budget *atomic.Int64, window int) (echoes, resends int64, err error) {
	inflight := 0
	for {
		for inflight < window && budget.Add(-1) >= 0 {
			s.send()
			inflight++
		}
		if inflight == 0 {
			s.ackAll()
			return echoes, resends, nil
		}
		_ = s.conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		n, err := s.conn.Read(s.rbuf)
		if err != nil {
			// A datagram was lost (or a stall of the shared box): send
			// the unechoed ones again, as a client would.
			if s.burst++; s.burst > 25 {
				return echoes, resends, errReplayStuck
			}
			s.resend(inflight)
			resends += int64(inflight)
			continue
		}
		if k := s.take(s.rbuf[:n]); k > 0 {
			s.burst = 0
			inflight -= k
			echoes += int64(k)
		}
	}
}

// replayLoad sends total messages over sessions and returns the echoes.
func replayLoad(b *testing.B, sessions []*replaySession, total int64, window int) (echoes, resends int64) {
	var budget atomic.Int64
	budget.Store(total)
	var got, re atomic.Int64
	var wg sync.WaitGroup
	for _, s := range sessions {
		wg.Go(func() {
			e, r, err := s.run(&budget, window)
			got.Add(e)
			re.Add(r)
			if err != nil {
				b.Error(err)
			}
		})
	}
	wg.Wait()
	return got.Load(), re.Load()
}

// replaySide is one server of the A/B pair and its accumulated figures.
type replaySide struct {
	name     string
	c        *child
	sessions []*replaySession

	cpu                          time.Duration
	msgs, resends                int64
	dgIn, dgOut, batches, rounds uint64
}

func (r *replaySide) round(b *testing.B, n int64, window int) {
	cpu0 := r.c.cpu(b)
	in0, out0, b0 := r.c.datagrams(b)
	e, re := replayLoad(b, r.sessions, n, window)
	r.cpu += r.c.cpu(b) - cpu0
	in, out, b1 := r.c.datagrams(b)
	r.msgs += e
	r.resends += re
	r.dgIn += in - in0
	r.dgOut += out - out0
	r.batches += b1 - b0
	r.rounds++
}

func (r *replaySide) report(b *testing.B) float64 {
	ns := float64(r.cpu.Nanoseconds())
	perDg := ns / float64(r.dgIn)
	b.ReportMetric(perDg, r.name+"-ns/dgram-in")
	b.ReportMetric(ns/float64(r.msgs), r.name+"-ns/msg")
	b.ReportMetric(float64(r.dgIn)/float64(r.batches), r.name+"-dgram-in/batch")
	b.ReportMetric(float64(r.dgIn)/float64(r.msgs), r.name+"-dgram-in/msg")
	b.ReportMetric(float64(r.dgOut)/float64(r.msgs), r.name+"-dgram-out/msg")
	b.ReportMetric(float64(r.resends), r.name+"-resends")
	return perDg
}

const (
	replaySessions = 16
	replayRounds   = 6 // alternating raw/eqgate chunks, ABBA order
)

// BenchmarkServerCPUReplay drives the raw echo and eqgate (each one shard,
// in its own child process) with the same replay client: replaySessions
// sessions, window messages unechoed per session, 64-byte messages, each
// one datagram. Each side echoes b.N messages, in replayRounds chunks
// alternating between the servers, and the server CPU per received
// datagram is reported for both with their ratio.
func BenchmarkServerCPUReplay(b *testing.B) {
	for _, w := range []int{1, 8} {
		b.Run(fmt.Sprintf("window=%d", w), func(b *testing.B) { benchReplay(b, w) })
	}
}

func benchReplay(b *testing.B, window int) {
	eq := &replaySide{name: "eqgate", c: startChild(b, "eqgate/1")}
	defer eq.c.stop()
	raw := &replaySide{name: "raw", c: startChild(b, "raw/1")}
	defer raw.c.stop()
	for range replaySessions {
		s := newReplaySession(b, eq.c.addr, window, nil)
		eq.sessions = append(eq.sessions, s)
		raw.sessions = append(raw.sessions, newReplaySession(b, raw.c.addr, window, &s.params))
	}
	defer func() {
		for _, s := range append(eq.sessions, raw.sessions...) {
			_ = s.conn.Close()
		}
	}()
	replayLoad(b, eq.sessions, 2000, window) // warm up: sessions, buffers
	replayLoad(b, raw.sessions, 2000, window)
	b.ReportAllocs()
	b.ResetTimer()
	// b.N counts messages per side, as in BenchmarkServerCPU.
	chunk := max(int64(b.N)/replayRounds, 1)
	for i := range replayRounds {
		first, second := raw, eq
		if i%2 == 1 {
			first, second = eq, raw
		}
		first.round(b, chunk, window)
		second.round(b, chunk, window)
	}
	b.StopTimer()
	r := raw.report(b)
	e := eq.report(b)
	b.ReportMetric(e/r, "ratio-ns/dgram-in")
}
