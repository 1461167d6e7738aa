package proto

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

const eq2ms = Nanotime(time.Millisecond)

func TestEQ2CombineTimer(t *testing.T) {
	cfg := DefaultEQ2Config()
	var c EQ2Coder
	var a EQ2App
	a.InitServer(&cfg, 1000*eq2ms) // the timer ticks at 1000 + k·250 ms
	var rec eq2Recorder
	if err := a.Receive(&c, AppendEQ2KeyPacket(nil, 1, EQ2KeyPacketLen), false, &rec); err != nil {
		t.Fatal(err)
	}
	if a.Next() != Never {
		t.Fatal("idle session wants a tick")
	}
	for _, tc := range []struct {
		name      string
		send, due Nanotime
		tickEarly Nanotime
	}{
		{"mid-period", 1010 * eq2ms, 1250 * eq2ms, 1249 * eq2ms},
		{"on a tick", 1500 * eq2ms, 1500 * eq2ms, 1499 * eq2ms},
		{"later period", 2600 * eq2ms, 2750 * eq2ms, 2700 * eq2ms},
	} {
		n := len(rec.sent)
		if err := a.Send(&c, tc.send, []byte{0x12, 0, 0}, &rec); err != nil {
			t.Fatal(err)
		}
		if a.Next() != tc.due {
			t.Fatalf("%s: Next %d ms, want %d ms", tc.name, a.Next()/eq2ms, tc.due/eq2ms)
		}
		if a.Tick(&c, tc.tickEarly, &rec); len(rec.sent) != n {
			t.Fatalf("%s: sent before the tick", tc.name)
		}
		if next := a.Tick(&c, tc.due, &rec); next != Never || len(rec.sent) != n+1 {
			t.Fatalf("%s: after the tick Next %d, %d sent", tc.name, next, len(rec.sent)-n)
		}
	}
}

func TestEQ2CombinePassLimits(t *testing.T) {
	cfg := DefaultEQ2Config()
	var c EQ2Coder
	r := rand.New(rand.NewPCG(7, 8))

	// 60 combine attempts per pass: 100 one-byte packets leave 39 waiting
	// for the next tick, 250 ms on.
	a := eq2KeyedServer(t, &cfg, &c, 0)
	var rec eq2Recorder
	for i := range 100 {
		if err := a.Send(&c, 0, []byte{byte(1 + i)}, &rec); err != nil {
			t.Fatal(err)
		}
	}
	if next := a.Tick(&c, 0, &rec); a.Queued() != 39 || next != 250*eq2ms {
		t.Fatalf("after one pass: %d queued, next %d ms; want 39, 250", a.Queued(), next/eq2ms)
	}
	// 61 packets of 3 prepared bytes (00 00 xx): 00 19 + 61 elements of
	// 1+3 bytes = 246, one payload (a 62nd would not fit in 248).
	if len(rec.sent) != 1 || len(rec.sent[0]) != 246 || eq2Elements(rec.sent[0]) != 61 {
		t.Fatalf("first pass sent %d payloads (%d bytes, %d elements)", len(rec.sent), len(rec.sent[0]), eq2Elements(rec.sent[0]))
	}

	// A pass ends once the payload being built passes 4000 bytes.
	b := eq2KeyedServer(t, &cfg, &c, 0)
	rec = eq2Recorder{}
	for range 5 {
		m := eq2Random(r, 5000)
		m[0] = 0x30
		if err := b.Send(&c, 0, m, &rec); err != nil {
			t.Fatal(err)
		}
	}
	b.Tick(&c, 0, &rec)
	if len(rec.sent) != 2 || b.Queued() != 3 {
		t.Fatalf("4000-byte limit: pass sent %d, left %d; want 2, 3", len(rec.sent), b.Queued())
	}
	b.Flush(&c, &rec)
	if b.Queued() != 0 || len(rec.sent) != 5 || b.Next() != Never {
		t.Fatalf("Flush left %d queued, sent %d", b.Queued(), len(rec.sent))
	}
}

// TestEQ2AppCombinedBound: an AppCombined payload (00 19 + length-prefixed
// elements) holds at most 248 bytes: 248 combine, 249 do not (EQ2EMu's
// EQ2Packet::AppCombine; the capture's largest is 248).
func TestEQ2AppCombinedBound(t *testing.T) {
	cfg := DefaultEQ2Config()
	var c EQ2Coder
	app := func(n int) []byte { return bytes.Repeat([]byte{0x41}, n) }
	for _, tc := range []struct {
		name     string
		apps     []int // app sizes; each prepared as 00 00 app (n+2 bytes)
		payloads int
	}{
		{"pair at 248", []int{118, 122}, 1},
		{"pair at 249", []int{118, 123}, 2},
		{"append at 248", []int{60, 60, 117}, 1}, // 2 + 63 + 63 + 120
		{"append at 249", []int{60, 60, 118}, 2},
	} {
		a := eq2KeyedServer(t, &cfg, &c, 0)
		var rec eq2Recorder
		for _, n := range tc.apps {
			if err := a.Send(&c, 0, app(n), &rec); err != nil {
				t.Fatal(err)
			}
		}
		a.Tick(&c, a.Next(), &rec)
		if len(rec.sent) != tc.payloads {
			t.Errorf("%s: %d payloads, want %d", tc.name, len(rec.sent), tc.payloads)
		}
		for _, p := range rec.sent {
			if isAppCombined(p) && len(p) > EQ2CombinedMax {
				t.Errorf("%s: AppCombined of %d bytes", tc.name, len(p))
			}
		}
	}
}

// TestEQ2ServerWaitsForKey: nothing leaves the server before the client's
// key packet, not even with the combine timer off; then the next Tick
// sends what waited, encrypted.
func TestEQ2ServerWaitsForKey(t *testing.T) {
	for _, delay := range []time.Duration{250 * time.Millisecond, -1} {
		cfg := DefaultEQ2Config()
		cfg.CombineDelay = delay
		var c EQ2Coder
		var a EQ2App
		a.InitServer(&cfg, 0)
		var rec eq2Recorder
		if err := a.Send(&c, 0, []byte{0x12, 0x68, 0x69}, &rec); err != nil {
			t.Fatal(err)
		}
		a.Flush(&c, &rec)
		if next := a.Tick(&c, 10*Nanotime(time.Second), &rec); len(rec.sent) != 0 || next != Never {
			t.Fatalf("delay %v: sent %d before the key, next %d", delay, len(rec.sent), next)
		}
		if err := a.Receive(&c, AppendEQ2KeyPacket(nil, eq2CaptureK64, EQ2KeyPacketLen), false, &rec); err != nil {
			t.Fatal(err)
		}
		now := 10 * Nanotime(time.Second)
		if a.Next() > now {
			t.Fatalf("delay %v: after the key, due at %d", delay, a.Next())
		}
		// Sent after the key but before the Tick: it goes behind.
		if err := a.Send(&c, now, []byte{0xff, 0xa4, 0x01, 0x01}, &rec); err != nil {
			t.Fatal(err)
		}
		for a.Next() != Never {
			a.Tick(&c, a.Next(), &rec)
		}
		var got []string
		for _, p := range rec.sent {
			got = append(got, hex.EncodeToString(p))
		}
		// SPEC §25.12: the two example packets, in order, in one
		// AppCombined (the second queued behind the first either way).
		want := "[0019" + "04de79b16f" + "05459038b369]"
		if fmt.Sprint(got) != want {
			t.Fatalf("delay %v: after the key sent %v, want %s", delay, got, want)
		}
	}
}

func TestEQ2QueueFull(t *testing.T) {
	cfg := DefaultEQ2Config()
	cfg.QueuePackets = 2
	var c EQ2Coder
	var a EQ2App
	a.InitServer(&cfg, 0)
	var rec eq2Recorder
	for i, want := range []error{nil, nil, ErrEQ2QueueFull} {
		if err := a.Send(&c, 0, []byte{1}, &rec); err != want {
			t.Fatalf("send %d: %v, want %v", i, err, want)
		}
	}
	if err := a.Send(&c, 0, nil, &rec); err != ErrEQ2EmptyApp {
		t.Fatalf("empty app: %v", err)
	}
	cfg = DefaultEQ2Config()
	cfg.QueueBytes = 100
	a.InitServer(&cfg, 0)
	if err := a.Send(&c, 0, make([]byte, 101), &rec); err != ErrEQ2QueueFull {
		t.Fatalf("101 bytes into a 100-byte queue: %v", err)
	}
}

// TestEQ2ClientWaitsForKey: a client's packets sent before the key request
// wait, then follow the key packet in order.
func TestEQ2ClientWaitsForKey(t *testing.T) {
	cfg := DefaultEQ2Config()
	var c EQ2Coder
	var cl EQ2App
	if err := cl.InitClient(&cfg, eq2CaptureK64, 0); err != nil {
		t.Fatal(err)
	}
	var rec eq2Recorder
	for _, m := range [][]byte{{0x12, 0, 0}, {0x13}} {
		if err := cl.Send(&c, 0, m, &rec); err != nil {
			t.Fatal(err)
		}
	}
	if len(rec.sent) != 0 || cl.Queued() != 2 {
		t.Fatalf("sent %d before the key request", len(rec.sent))
	}
	if err := cl.Receive(&c, AppendEQ2KeyRequest(nil), false, &rec); err != nil {
		t.Fatal(err)
	}
	if len(rec.sent) != 3 || len(rec.sent[0]) != EQ2KeyPacketLen || hex.EncodeToString(rec.sent[1]) != "a3162b" {
		t.Fatalf("after the key request: %x", rec.sent)
	}
	s := eq2KeyedServer(t, &cfg, &c, eq2CaptureK64)
	var srec eq2Recorder
	for _, p := range rec.sent[1:] {
		if err := s.Receive(&c, p, false, &srec); err != nil {
			t.Fatal(err)
		}
	}
	if len(srec.delivered) != 2 || !bytes.Equal(srec.delivered[1], []byte{0x13}) {
		t.Fatalf("server got %x", srec.delivered)
	}
}

// eq2KeyedClient returns a client that has answered the key request.
func eq2KeyedClient(t testing.TB, cfg *EQ2Config, c *EQ2Coder, k64 uint64) *EQ2App {
	t.Helper()
	cl := new(EQ2App)
	if err := cl.InitClient(cfg, k64, 0); err != nil {
		t.Fatal(err)
	}
	var s eq2Sink
	if err := cl.Receive(c, AppendEQ2KeyRequest(nil), false, &s); err != nil {
		t.Fatal(err)
	}
	return cl
}

// TestEQ2ClientFiller: a ciphertext EQ2EMu would misread is not sent; with
// a filler configured, the filler goes first and the message follows at the
// moved keystream; without one Send refuses and changes nothing.
func TestEQ2ClientFiller(t *testing.T) {
	_, c2s := eq2Keystreams(1024)
	for _, tc := range []struct {
		name string
		app  []byte // plaintext at keystream position 0
	}{
		// 4 bytes whose ciphertext is 02 ff ?? ??.
		{"02 ff", []byte{0x02 ^ c2s[0], 0xff ^ c2s[1], 0x12, 0x34}},
		// 502 bytes (MaxLen 512 − 10) whose ciphertext starts 00.
		{"502 from 00", append([]byte{c2s[0]}, bytes.Repeat([]byte{7}, 501)...)},
	} {
		for _, filler := range [][]byte{nil, {0x7f, 1, 2, 3, 4, 5}} {
			cfg := DefaultEQ2Config()
			cfg.Filler = filler
			var c EQ2Coder
			cl := eq2KeyedClient(t, &cfg, &c, eq2CaptureK64)
			cl.SetMaxPacket(512)
			var rec eq2Recorder
			err := cl.Send(&c, 0, tc.app, &rec)
			if filler == nil {
				if err != ErrEQ2Unsendable || len(rec.sent) != 0 {
					t.Fatalf("%s without filler: %v, %d sent", tc.name, err, len(rec.sent))
				}
				// Nothing moved: a plain message still encrypts at position 0.
				if err := cl.Send(&c, 0, []byte{0x12, 0, 0}, &rec); err != nil || hex.EncodeToString(rec.sent[0]) != "a3162b" {
					t.Fatalf("%s: keystream moved by a refused Send: %x %v", tc.name, rec.sent, err)
				}
				continue
			}
			if err != nil || len(rec.sent) != 2 || cl.Stats.Fillers != 1 {
				t.Fatalf("%s with filler: %v, %d sent, %d fillers", tc.name, err, len(rec.sent), cl.Stats.Fillers)
			}
			s := eq2KeyedServer(t, &cfg, &c, eq2CaptureK64)
			var srec eq2Recorder
			for _, p := range rec.sent {
				if err := s.Receive(&c, p, EQ2Fragmented(len(p), 512), &srec); err != nil {
					t.Fatal(err)
				}
			}
			if len(srec.delivered) != 2 || !bytes.Equal(srec.delivered[0], filler) || !bytes.Equal(srec.delivered[1], tc.app) {
				t.Fatalf("%s: server got %x", tc.name, srec.delivered)
			}
		}
	}
}

// eq2FragRecorder is an eq2Recorder that also takes forced fragment sets.
type eq2FragRecorder struct {
	eq2Recorder
	forced [][]byte
}

func (r *eq2FragRecorder) EQ2SendFragmented(p []byte) { r.forced = append(r.forced, bytes.Clone(p)) }

// TestEQ2ClientForcedFragments: with a session that can send a payload as
// fragments, a ciphertext EQ2EMu would misread whole goes as a two-fragment
// set (no filler, no refusal), and the server decodes the set.
func TestEQ2ClientForcedFragments(t *testing.T) {
	_, c2s := eq2Keystreams(1024)
	for _, tc := range []struct {
		name string
		app  []byte
	}{
		{"02 ff", []byte{0x02 ^ c2s[0], 0xff ^ c2s[1], 0x12, 0x34}},
		{"502 from 00", append([]byte{c2s[0]}, bytes.Repeat([]byte{7}, 501)...)},
	} {
		cfg := DefaultEQ2Config()
		var c EQ2Coder
		cl := eq2KeyedClient(t, &cfg, &c, eq2CaptureK64)
		cl.SetMaxPacket(512)
		var rec eq2FragRecorder
		if err := cl.Send(&c, 0, tc.app, &rec); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if len(rec.sent) != 0 || len(rec.forced) != 1 || cl.Stats.ForcedFragments != 1 || cl.Stats.Fillers != 0 {
			t.Fatalf("%s: %d sent, %d forced", tc.name, len(rec.sent), len(rec.forced))
		}
		set := rec.forced[0]
		if len(set) != len(tc.app) {
			t.Fatalf("%s: forced set of %d bytes, escaped?", tc.name, len(set))
		}
		s := EQ2SplitForced(set)
		if s < 1 || len(set)-s < 2 || s > 512-10 || (set[s] == 0 && set[s+1] == 0x19) {
			t.Fatalf("%s: split at %d of %d", tc.name, s, len(set))
		}
		// The keystream moved on by the set: the next message is at len(app).
		if err := cl.Send(&c, 0, []byte{0x12, 0, 0}, &rec); err != nil {
			t.Fatal(err)
		}
		sv := eq2KeyedServer(t, &cfg, &c, eq2CaptureK64)
		var srec eq2Recorder
		if err := sv.Receive(&c, set, true, &srec); err != nil {
			t.Fatal(err)
		}
		if err := sv.Receive(&c, rec.sent[0], false, &srec); err != nil {
			t.Fatal(err)
		}
		if len(srec.delivered) != 2 || !bytes.Equal(srec.delivered[0], tc.app) || !bytes.Equal(srec.delivered[1], []byte{0x12, 0, 0}) {
			t.Fatalf("%s: server got %x", tc.name, srec.delivered)
		}
	}
	if s := EQ2SplitForced([]byte{1, 2, 0, 0x19}); s != 1 {
		t.Errorf("split of 01 02 00 19 at %d, want 1", s)
	}
}

func TestEQ2SplitLast(t *testing.T) {
	const maxp = 512 // first fragment 502 bytes, later ones 506
	fill := func(n int) []byte { return bytes.Repeat([]byte{0x55}, n) }
	for _, tc := range []struct {
		name string
		p    []byte
		want int
	}{
		{"unfragmented", fill(502), 502},
		{"standard", fill(1211), 1008},
		{"00 19 at the boundary", func() []byte { p := fill(1211); p[1008], p[1009] = 0, 0x19; return p }(), 1007},
		{"1-byte last fragment", fill(1009), 1007},
		{"two fragments, 00 19", func() []byte { p := fill(600); p[502], p[503] = 0, 0x19; return p }(), 501},
		{"full last fragment, 00 19", func() []byte { p := fill(502 + 506); p[502], p[503] = 0, 0x19; return p }(), 503},
	} {
		got := EQ2SplitLast(tc.p, maxp)
		if got != tc.want {
			t.Errorf("%s: last fragment at %d, want %d", tc.name, got, tc.want)
		}
		if n := len(tc.p) - got; got < len(tc.p) && (n < 2 || n > maxp-6 || (tc.p[got] == 0 && tc.p[got+1] == 0x19)) {
			t.Errorf("%s: bad last fragment of %d bytes", tc.name, n)
		}
	}
}

// TestEQ2ServerKeyRules: the key from the first element of an AppCombined;
// sets and short packets before it ignored (counted); K64 0 means clear.
func TestEQ2ServerKeyRules(t *testing.T) {
	cfg := DefaultEQ2Config()
	var c EQ2Coder
	var s EQ2App
	s.InitServer(&cfg, 0)
	var rec eq2Recorder
	if err := s.Receive(&c, make([]byte, 600), true, &rec); err != ErrEQ2BeforeKey {
		t.Fatalf("fragment set before the key: %v", err)
	}
	if err := s.Receive(&c, []byte{0x12, 0, 0}, false, &rec); err != ErrEQ2BeforeKey || s.Stats.IgnoredPreKey != 2 {
		t.Fatalf("short packet before the key: %v, %d ignored", err, s.Stats.IgnoredPreKey)
	}
	kp := AppendEQ2KeyPacket(nil, eq2CaptureK64, EQ2KeyPacketLen)
	ac := AppendAppCombinedElement(AppendAppCombinedHeader(nil), kp)
	ac = AppendAppCombinedElement(ac, []byte{0xa3, 0x16, 0x2b})
	if err := s.Receive(&c, ac, false, &rec); err != nil || s.K64() != eq2CaptureK64 {
		t.Fatalf("key in an AppCombined: %v, k64 %x", err, s.K64())
	}
	if len(rec.delivered) != 1 || hex.EncodeToString(rec.delivered[0]) != "120000" {
		t.Fatalf("element after the key: %x", rec.delivered)
	}

	// K64 0: no RC4 either way; escapes still apply.
	z := eq2KeyedServer(t, &cfg, &c, 0)
	rec = eq2Recorder{}
	if err := z.Receive(&c, []byte{0, 0, 5, 6}, false, &rec); err != nil || !bytes.Equal(rec.delivered[0], []byte{0, 5, 6}) {
		t.Fatalf("clear escaped packet: %x %v", rec.delivered, err)
	}
	if z.Encrypted() {
		t.Fatal("K64 0 encrypts")
	}
}

// TestEQ2ReceiveErrors: every bad stream is an error EQ2Fatal reports; a
// drop is not.
func TestEQ2ReceiveErrors(t *testing.T) {
	cfg := DefaultEQ2Config()
	cfg.MaxInflate = 1000
	var c EQ2Coder
	big := make([]byte, 2000)
	big[0] = 0x30
	var sv EQ2App // a clear server to make deflated payloads with
	svCfg := DefaultEQ2Config()
	svCfg.CombineDelay = -1
	deflated := func(app []byte, header bool) []byte {
		sv.InitServer(&svCfg, 0)
		sv.keyed = true
		sv.zstream = !header
		var rec eq2Recorder
		if err := sv.Send(&c, 0, app, &rec); err != nil {
			t.Fatal(err)
		}
		return rec.sent[0]
	}
	finalBlock := append([]byte{1, 0x58, 0xc3}, 0x01, 0x01, 0x00, 0xfe, 0xff, 0x41, 0, 0, 0xff, 0xff)
	for _, tc := range []struct {
		name    string
		payload []byte
		frag    bool
		want    error
	}{
		{"empty", nil, false, ErrEQ2EmptyPayload},
		{"unescaped 00", []byte{0, 5, 1}, false, ErrEQ2Unescaped},
		{"flag 02", []byte{2, 1}, false, ErrEQ2BadFlag},
		{"zlib header 78 da (32 KiB)", []byte{1, 0x78, 0xda, 0, 0, 0xff, 0xff}, false, ErrEQ2ZlibHeader},
		{"zlib header with dictionary", []byte{1, 0x58, 0xe1, 0, 0, 0xff, 0xff}, false, ErrEQ2ZlibHeader},
		{"no sync flush", []byte{1, 0x58, 0xc3, 0x4b, 0x04, 0x00}, false, ErrEQ2Inflate},
		{"garbage", []byte{1, 0x58, 0xc3, 0xff, 0xff, 0xff, 0, 0, 0xff, 0xff}, false, ErrEQ2Inflate},
		{"final block", finalBlock, false, ErrEQ2StreamEnd},
		{"over MaxInflate", deflated(big, true), false, ErrEQ2InflateTooBig},
		{"over MaxInflate, fragmented", deflated(big, true), true, ErrEQ2InflateTooBig},
	} {
		cl := eq2KeyedClient(t, &cfg, &c, 0)
		var rec eq2Recorder
		err := cl.Receive(&c, tc.payload, tc.frag, &rec)
		if err != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
		if EQ2Fatal(err) != (tc.want != ErrEQ2EmptyPayload) {
			t.Errorf("%s: EQ2Fatal %v", tc.name, EQ2Fatal(err))
		}
		if len(rec.delivered) != 0 {
			t.Errorf("%s: delivered %x", tc.name, rec.delivered)
		}
	}
	// Exactly MaxInflate bytes is fine.
	cl := eq2KeyedClient(t, &cfg, &c, 0)
	var rec eq2Recorder
	if err := cl.Receive(&c, deflated(big[:1000], true), false, &rec); err != nil || len(rec.delivered[0]) != 1000 {
		t.Fatalf("1000 bytes at MaxInflate 1000: %v", err)
	}

	// Key requests eqgate cannot answer: not exponent 1, or malformed.
	for _, kr := range [][]byte{
		{EQ2OpKeyRequest, 1},
		append(AppendEQ2KeyRequest(nil)[:69], 3),  // exponent 3
		append(AppendEQ2KeyRequest(nil), 0),       // trailing byte
		{EQ2OpKeyRequest, 0xff, 0xff, 0, 0, 1, 0}, // modulus longer than the packet
	} {
		var cl EQ2App
		if err := cl.InitClient(&cfg, 1, 0); err != nil {
			t.Fatal(err)
		}
		if err := cl.Receive(&c, kr, false, &rec); err != ErrEQ2BadKeyRequest || !EQ2Fatal(err) {
			t.Errorf("key request %x: %v", kr, err)
		}
	}
	if EQ2Fatal(ErrEQ2BeforeKey) || EQ2Fatal(ErrEQ2QueueFull) {
		t.Error("drops reported fatal")
	}
	var bad EQ2App
	short := DefaultEQ2Config()
	short.KeyPacketLen = 66
	if err := bad.InitClient(&short, 1, 0); err != ErrEQ2ShortKeyPacket {
		t.Errorf("66-byte key packet config: %v", err)
	}
}

// TestEQ2StatResponse: the 40-byte 08 of eq2_login line 68 (server time
// 0x200, 2 received, 1 sent).
func TestEQ2StatResponse(t *testing.T) {
	req := SessionStatRequest{Timestamp: 1, StatPing: 10, AvgPing: 10}
	got := EQ2StatResponse(req, 0x200, 1, 2).AppendTo(nil)
	want := "0008000100000200000000000000000200000000000000010000000000000001000000000000000" + "2"
	if hex.EncodeToString(got) != want {
		t.Fatalf("stat response\n%x\nwant\n%s", got, want)
	}
}

func TestEQ2Opcodes(t *testing.T) {
	for _, tc := range []struct {
		op   uint16
		wire string
	}{{0x12, "12"}, {0xfe, "fe"}, {0xff, "ffff00"}, {0x1a4, "ffa401"}, {0, "00"}} {
		b := AppendEQ2App(nil, tc.op, []byte{9})
		if hex.EncodeToString(b) != tc.wire+"09" {
			t.Errorf("opcode %#x: %x", tc.op, b)
		}
		op, body, err := ParseEQ2App(b)
		if err != nil || op != tc.op || !bytes.Equal(body, []byte{9}) {
			t.Errorf("parse %x: %#x %x %v", b, op, body, err)
		}
	}
	for _, b := range [][]byte{nil, {0xff}, {0xff, 1}} {
		if _, _, err := ParseEQ2App(b); err != ErrShortPacket {
			t.Errorf("parse %x: %v", b, err)
		}
	}
}
