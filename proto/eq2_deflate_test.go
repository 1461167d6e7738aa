package proto

import (
	"bytes"
	"compress/flate"
	kflate "github.com/klauspost/compress/flate"
	"math/rand/v2"
	"testing"
)

// eq2Sink discards what an EQ2App hands out but keeps the last of each,
// without allocating.
type eq2Sink struct {
	sent, delivered int
	last            []byte
}

func (s *eq2Sink) EQ2Send(p []byte)    { s.sent++; s.last = append(s.last[:0], p...) }
func (s *eq2Sink) EQ2Deliver(p []byte) { s.delivered++; s.last = append(s.last[:0], p...) }

func eq2Random(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// eq2TemptingMessages are application packets whose best matches lie
// beyond 8 KiB: an encoder with a 32 KiB window takes them.
func eq2TemptingMessages() [][]byte {
	r := rand.New(rand.NewPCG(1, 2))
	r1, r2 := eq2Random(r, 4096), eq2Random(r, 6000)
	far := append(append(append([]byte{0x20}, r1...), r2...), r1...) // r1 again 10 KiB on
	big := []byte{0xff, 0x10, 0x01}
	for len(big) < 64<<10 {
		big = append(big, r1[:3000]...)
		big = append(big, eq2Random(r, 9000)...) // repeats 12 KiB apart
	}
	text := bytes.Repeat([]byte("<eq2 s0 i1>"), 30)
	return [][]byte{text, far, eq2Random(r, 130), big, append([]byte{0x12}, text...), r1}
}

// TestEQ2DeflateWindow holds the server's deflate stream to a strict 8 KiB
// window: every deflated payload of a session inflates, with the reference
// inflater at window bits 13, to the packet sent, with and without
// DeflateHistory. The same reference rejects the 32 KiB-window encoders'
// output for the same data, so the test can fail.
func TestEQ2DeflateWindow(t *testing.T) {
	msgs := eq2TemptingMessages()
	for _, history := range []int{0, 1000, EQ2Window} {
		cfg := DefaultEQ2Config()
		cfg.CombineDelay = -1 // one payload per packet
		cfg.DeflateHistory = history
		var c EQ2Coder
		a := eq2KeyedServer(t, &cfg, &c, 0) // K64 0: RC4 off, the stream in clear
		ref := &refInflater{window: EQ2Window}
		for i, m := range msgs {
			var rec eq2Recorder
			if err := a.Send(&c, 0, m, &rec); err != nil {
				t.Fatal(err)
			}
			p := rec.sent[0]
			if p[0] != 1 {
				t.Fatalf("history %d: message %d (%d bytes) not deflated: flag %02x", history, i, len(m), p[0])
			}
			z := p[1:]
			if i == 0 {
				if !bytes.HasPrefix(z, []byte{0x58, 0xc3}) {
					t.Fatalf("first deflated payload starts %x, want the zlib header 58 c3", z[:2])
				}
				z = z[2:]
			}
			if !bytes.HasSuffix(z, eq2SyncFlush[:]) {
				t.Fatalf("history %d: message %d: payload does not end in a sync flush", history, i)
			}
			got, err := ref.packet(z)
			if err != nil {
				t.Fatalf("history %d: message %d (%d bytes): strict 8 KiB inflate: %v", history, i, len(m), err)
			}
			if !bytes.Equal(got, m) {
				t.Fatalf("history %d: message %d: inflates to %d bytes, sent %d", history, i, len(got), len(m))
			}
		}
	}

	// The reference is strict: the 32 KiB-window encoders, the stdlib's
	// and klauspost's at level 9, reach 10 KiB back on the same data.
	type flusher interface {
		Write([]byte) (int, error)
		Flush() error
	}
	for name, newW := range map[string]func(*bytes.Buffer) flusher{
		"compress/flate":    func(b *bytes.Buffer) flusher { w, _ := flate.NewWriter(b, 9); return w },
		"klauspost level 9": func(b *bytes.Buffer) flusher { w, _ := kflate.NewWriter(b, 9); return w },
	} {
		var buf bytes.Buffer
		w := newW(&buf)
		w.Write(msgs[1])
		w.Flush()
		if _, err := (&refInflater{window: EQ2Window}).packet(buf.Bytes()); err == nil {
			t.Fatalf("%s: the reference accepted a stream with 10 KiB distances", name)
		}
		if _, err := (&refInflater{window: 32 << 10}).packet(buf.Bytes()); err != nil {
			t.Fatalf("%s: the reference rejected a valid 32 KiB stream: %v", name, err)
		}
	}
}

// TestEQ2DeflateSessionsIsolated interleaves sessions with and without
// DeflateHistory on one Coder: each stream decodes with its own client, so
// no dictionary leaks from one session's payloads into another's.
func TestEQ2DeflateSessionsIsolated(t *testing.T) {
	var c, cc EQ2Coder
	msgs := eq2Messages(300, 200, 1200, 130, 600, 300, 2000, 150)
	type pair struct {
		srv, cl *EQ2App
		rec     eq2Recorder
	}
	var pairs []*pair
	for i, history := range []int{EQ2Window, 0, 500, 0} {
		cfg := DefaultEQ2Config()
		cfg.CombineDelay = -1
		cfg.DeflateHistory = history
		k := uint64(i + 1)
		pairs = append(pairs, &pair{srv: eq2KeyedServer(t, &cfg, &c, k), cl: eq2KeyedClient(t, &cfg, &cc, k)})
	}
	for round := range 3 {
		for i, m := range msgs {
			for j, p := range pairs {
				pipe := &eq2Pipe{max: 512}
				app := append([]byte{byte(j), byte(round)}, m...)
				if err := p.srv.Send(&c, 0, app, pipe); err != nil {
					t.Fatal(err)
				}
				pipe.drain(t, p.cl, &cc, &p.rec)
				if got := p.rec.delivered[len(p.rec.delivered)-1]; !bytes.Equal(got, app) {
					t.Fatalf("round %d message %d session %d: decoded %d bytes differ", round, i, j, len(got))
				}
			}
		}
	}
	if len(pairs[0].srv.hist) != EQ2Window || pairs[1].srv.hist != nil {
		t.Fatalf("deflate histories %d and %d bytes", len(pairs[0].srv.hist), len(pairs[1].srv.hist))
	}
}

// TestEQ2ClientInflateHistory feeds the client a session-long stream whose
// payloads reference each other up to 8 KiB back (klauspost's 8 KiB-window
// writer kept across payloads, as C zlib's stream is): the client's history
// carries the references across payloads and across its 8 KiB trim.
func TestEQ2ClientInflateHistory(t *testing.T) {
	cfg := DefaultEQ2Config()
	var c EQ2Coder
	var cl EQ2App
	if err := cl.InitClient(&cfg, 0, 0); err != nil {
		t.Fatal(err)
	}
	var rec eq2Recorder
	if err := cl.Receive(&c, AppendEQ2KeyRequest(nil), false, &rec); err != nil {
		t.Fatal(err)
	}
	var z bytes.Buffer
	w, _ := kflate.NewWriterWindow(&z, EQ2Window)
	r := rand.New(rand.NewPCG(3, 4))
	pool := eq2Random(r, 3000)
	header := true
	for i := range 60 {
		n := 200 + r.IntN(2500)
		m := make([]byte, 0, n)
		m = append(m, byte(1+i))
		for len(m) < n {
			o := r.IntN(len(pool) - 64)
			m = append(m, pool[o:o+1+r.IntN(63)]...)
		}
		z.Reset()
		if header {
			z.Write([]byte{0x58, 0xc3})
			header = false
		}
		w.Write(m)
		w.Flush()
		p := append([]byte{1}, z.Bytes()...) // flag 01; K64 0: no RC4
		if err := cl.Receive(&c, p, false, &rec); err != nil {
			t.Fatalf("payload %d: %v", i, err)
		}
		if got := rec.delivered[len(rec.delivered)-1]; !bytes.Equal(got, m) {
			t.Fatalf("payload %d: inflated %d bytes differ from the %d sent", i, len(got), len(m))
		}
	}
	if len(cl.hist) != EQ2Window {
		t.Fatalf("history %d bytes, want %d", len(cl.hist), EQ2Window)
	}
}

// TestEQ2CompressThreshold: deflated exactly when 2 + flag + app > 128, even
// when that makes the payload longer (random bodies: stored blocks).
func TestEQ2CompressThreshold(t *testing.T) {
	cfg := DefaultEQ2Config()
	cfg.CombineDelay = -1
	var c EQ2Coder
	a := eq2KeyedServer(t, &cfg, &c, 0)
	r := rand.New(rand.NewPCG(5, 6))
	for _, tc := range []struct {
		n        int
		deflated bool
	}{{1, false}, {125, false}, {126, true}, {1200, true}} {
		m := eq2Random(r, tc.n)
		m[0] |= 1 // nonzero opcode byte
		var rec eq2Recorder
		if err := a.Send(&c, 0, m, &rec); err != nil {
			t.Fatal(err)
		}
		p := rec.sent[0]
		if !tc.deflated {
			// Flag 00 in clear is escaped: 00 00 app.
			if !bytes.Equal(p, append([]byte{0, 0}, m...)) {
				t.Errorf("%d bytes: payload %x…, want 00 00 + app", tc.n, p[:min(8, len(p))])
			}
			continue
		}
		if p[0] != 1 {
			t.Errorf("%d bytes: flag %02x, want 01", tc.n, p[0])
		}
		if tc.n == 1200 && len(p) <= tc.n {
			t.Errorf("random 1200 bytes deflated to %d: expected stored blocks, longer", len(p))
		}
	}
}

// TestEQ2DeflateLevel: an EQ2 session's deflate stream takes the level of
// its Env's Coder (the listener's CompressLevel): fast writes only fixed-code
// blocks, default a dynamic code where it pays, and both inflate with the
// strict 8 KiB reference to the message; incompressible messages go as
// stored blocks, each payload ending in the sync flush.
func TestEQ2DeflateLevel(t *testing.T) {
	game := benchPayload("game", 1024, 3)
	random := benchPayload("random", 1024, 3)
	for _, tc := range []struct {
		level CompressLevel
		btype byte // of the game message's first block
	}{{CompressFast, 1}, {CompressDefault, 2}, {CompressSmall, 2}} {
		var c Coder
		if err := c.SetCompressLevel(tc.level); err != nil {
			t.Fatal(err)
		}
		ec := newEQ2Coder(&Env{Coder: &c})
		ref := &refInflater{window: EQ2Window}
		for _, m := range [][]byte{game, random} {
			z := ec.deflate(nil, m, false, nil)
			if !bytes.HasSuffix(z, eq2SyncFlush[:]) {
				t.Fatalf("%v: payload does not end in a sync flush", tc.level)
			}
			btype, want := z[0]>>1&3, tc.btype
			if &m[0] == &random[0] {
				want = 0 // stored
			}
			if btype != want {
				t.Errorf("%v: first block type %d, want %d", tc.level, btype, want)
			}
			got, err := ref.packet(z)
			if err != nil || !bytes.Equal(got, m) {
				t.Fatalf("%v: strict 8 KiB inflate: %v", tc.level, err)
			}
		}
	}
}
