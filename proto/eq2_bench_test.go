package proto

import (
	"strconv"
	"testing"
)

// Cost per application message of the EQ2 layer (SPEC §22.6, §22.7), in
// each role and direction, at three sizes: 40 bytes (plain, RC4 only),
// 300 bytes of text (deflated well) and 1200 random bytes (deflated to
// stored blocks, fragmented on the wire). Run:
//
//	go test ./proto -run '^$' -bench EQ2 -benchmem

var eq2BenchSizes = []int{40, 300, 1200}

func eq2BenchMessage(n int) []byte {
	if n == 300 {
		return eq2Messages(1, n)[1] // text
	}
	return eq2Messages(n)[0] // random
}

// BenchmarkEQ2ServerEncode: Send plus the combine pass that prepares it
// (flag, deflate over 128 bytes, RC4, escape), one message per pass; the
// hist8k cases with DeflateHistory 8 KiB.
func BenchmarkEQ2ServerEncode(b *testing.B) {
	for _, tc := range []struct {
		name    string
		n, hist int
	}{{"40", 40, 0}, {"300", 300, 0}, {"1200", 1200, 0}, {"300-hist8k", 300, EQ2Window}, {"1200-hist8k", 1200, EQ2Window}} {
		n := tc.n
		b.Run(tc.name, func(b *testing.B) {
			cfg := DefaultEQ2Config()
			cfg.DeflateHistory = tc.hist
			var c EQ2Coder
			a := eq2KeyedServer(b, &cfg, &c, eq2CaptureK64)
			m := eq2BenchMessage(n)
			var sink eq2Sink
			now := Nanotime(0)
			op := func() {
				if err := a.Send(&c, now, m, &sink); err != nil {
					b.Fatal(err)
				}
				now = a.Tick(&c, a.Next(), &sink)
			}
			op() // the shard's deflate engine is made once, here
			b.ReportAllocs()
			b.SetBytes(int64(n))
			for b.Loop() {
				op()
			}
		})
	}
}

// BenchmarkEQ2ServerEncodeCombined: ten 40-byte messages per combine pass,
// packed into AppCombined payloads; reported per message.
func BenchmarkEQ2ServerEncodeCombined(b *testing.B) {
	cfg := DefaultEQ2Config()
	var c EQ2Coder
	a := eq2KeyedServer(b, &cfg, &c, eq2CaptureK64)
	m := eq2BenchMessage(40)
	var sink eq2Sink
	now := Nanotime(0)
	b.ReportAllocs()
	b.SetBytes(int64(len(m)))
	i := 0
	for b.Loop() {
		if err := a.Send(&c, now, m, &sink); err != nil {
			b.Fatal(err)
		}
		if i++; i%10 == 0 {
			now = a.Tick(&c, a.Next(), &sink)
		}
	}
}

// BenchmarkEQ2ClientEncode: the client's Send (RC4, the misread checks,
// escape).
func BenchmarkEQ2ClientEncode(b *testing.B) {
	for _, n := range eq2BenchSizes {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			cfg := DefaultEQ2Config()
			var c EQ2Coder
			a := eq2KeyedClient(b, &cfg, &c, eq2CaptureK64)
			m := eq2BenchMessage(n)
			var sink eq2Sink
			if err := a.Send(&c, 0, m, &sink); err != nil { // warm the buffers
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.SetBytes(int64(n))
			for b.Loop() {
				if err := a.Send(&c, 0, m, &sink); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// eq2BenchDecode feeds rx a recorded sequence of payloads over and over,
// restoring rx's state at each wrap (RC4 and the deflate stream run on).
// The copy of each payload (Receive decrypts in place) is included.
func eq2BenchDecode(b *testing.B, rx *EQ2App, c *EQ2Coder, p *eq2Pipe, n int) {
	snap := *rx
	var sink eq2Sink
	scratch := make([]byte, 0, 64<<10)
	// One pass first, so the inflater and history exist before timing.
	for i := range p.n {
		scratch = append(scratch[:0], p.bufs[i]...)
		if err := rx.Receive(c, scratch, p.frag[i], &sink); err != nil {
			b.Fatal(err)
		}
	}
	h := rx.hist
	*rx = snap
	rx.hist = h[:0]
	b.ReportAllocs()
	b.SetBytes(int64(n))
	i := 0
	for b.Loop() {
		if i == p.n {
			h := rx.hist
			*rx = snap
			rx.hist = h[:0]
			i = 0
		}
		scratch = append(scratch[:0], p.bufs[i]...)
		if err := rx.Receive(c, scratch, p.frag[i], &sink); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkEQ2ClientDecode: the client's Receive of server payloads
// (escape, RC4, flag, inflate with the session history, deliver).
func BenchmarkEQ2ClientDecode(b *testing.B) { eq2BenchDirection(b, true) }

// BenchmarkEQ2ServerDecode: the server's Receive of client payloads
// (escape, RC4, deliver).
func BenchmarkEQ2ServerDecode(b *testing.B) { eq2BenchDirection(b, false) }

// eq2BenchDirection records 1024 payloads of one direction and times their
// decoding.
func eq2BenchDirection(b *testing.B, toClient bool) {
	for _, n := range eq2BenchSizes {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			cfg := DefaultEQ2Config()
			cfg.CombineDelay = -1
			var sc, cc EQ2Coder
			srv := eq2KeyedServer(b, &cfg, &sc, eq2CaptureK64)
			cl := eq2KeyedClient(b, &cfg, &cc, eq2CaptureK64)
			tx, txc, rx, rxc := cl, &cc, srv, &sc
			if toClient {
				tx, txc, rx, rxc = srv, &sc, cl, &cc
			}
			m := eq2BenchMessage(n)
			p := &eq2Pipe{max: 512}
			for range 1024 {
				if err := tx.Send(txc, 0, m, p); err != nil {
					b.Fatal(err)
				}
			}
			eq2BenchDecode(b, rx, rxc, p, n)
		})
	}
}
