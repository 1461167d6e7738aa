package proto

import (
	"bytes"
	"encoding/hex"
	"hash/crc32"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The EQ2 captures (shared/protocol/captures/eq2) are one conversation
// between EQ2EMu's EQStream in both roles, K64 = 0x0123456789abcdef. These
// tests take the session framing apart with the package's parsers, run every
// application payload through an EQ2App in the matching role, and hold the
// result to the capture: what each side delivered (APP-RX lines), the
// decrypted units the annotations show at their keystream positions, and,
// for the client, the payloads it sent, byte for byte.

var (
	eq2AppLineRE = regexp.MustCompile(`^\d+\.\d+ APP-(TX|RX) session0 stream=0 len=(\d+) ([0-9a-f]+)(?:\.\.\.\(\+(\d+) bytes\) crc32=([0-9a-f]{8}))?$`)
	eq2UnitRE    = regexp.MustCompile(`esc=(\d) rc4=(s2c|c2s)@(\d+)\+(\d+) dec=([0-9a-f]+)`)
)

const eq2CaptureK64 = 0x0123456789abcdef

// eq2AppLine is an APP-TX or APP-RX line: the full packet, or its first
// bytes with the length and CRC-32 of the whole.
type eq2AppLine struct {
	line   int
	tx     bool
	n      int
	prefix []byte
	crc    uint32
	full   bool
}

func (l eq2AppLine) matches(app []byte) bool {
	if l.full {
		return bytes.Equal(app, l.prefix)
	}
	return len(app) == l.n && bytes.HasPrefix(app, l.prefix) && crc32.ChecksumIEEE(app) == l.crc
}

// eq2Payload is one application payload recovered from the framing.
type eq2Payload struct {
	line       int // the datagram that completed it
	seq        Seq // its (first) sequence number
	tx         bool
	fragmented bool
	b          []byte
}

type eq2Capture struct {
	apps     []eq2AppLine
	payloads []eq2Payload
	notes    map[int]string // datagram line -> annotation
	maxPkt   int
}

// eq2ReadCapture reads one side of the conversation: datagrams through the
// package's codec capture reader, the APP lines here.
func eq2ReadCapture(t *testing.T, name string) *eq2Capture {
	t.Helper()
	path := filepath.Join("..", "..", "shared", "protocol", "captures", "eq2", name)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(raw), "\n")
	capt := &eq2Capture{notes: map[int]string{}, maxPkt: DefaultMaxPacket}
	for i, l := range lines {
		m := eq2AppLineRE.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		n, _ := strconv.Atoi(m[2])
		a := eq2AppLine{line: i + 1, tx: m[1] == "TX", n: n, prefix: codecHex(t, m[3]), full: m[4] == ""}
		if !a.full {
			c, _ := strconv.ParseUint(m[5], 16, 32)
			a.crc = uint32(c)
		} else if len(a.prefix) != n {
			t.Fatalf("%s:%d: len=%d, %d bytes", name, i+1, n, len(a.prefix))
		}
		capt.apps = append(capt.apps, a)
	}
	var next [2]Seq
	var frag [2][]byte
	var fragTotal [2]int
	var fragSeq [2]Seq
	for _, d := range codecReadCapture(t, path) {
		if d.plain || d.params == nil {
			continue
		}
		capt.maxPkt = d.params.MaxPacket
		tx := strings.Contains(lines[d.line-1], " TX ")
		dir := 0
		if tx {
			dir = 1
		}
		capt.notes[d.line] = d.parse
		var walk func(p []byte)
		walk = func(p []byte) {
			if len(p) < 2 || p[0] != 0 {
				t.Fatalf("%s:%d: not a protocol packet: %x", name, d.line, p)
			}
			if Opcode(p[1]) == OpCombined {
				it := NewCombinedIter(p)
				for e, ok := it.Next(); ok; e, ok = it.Next() {
					walk(e)
				}
				if it.Err() != nil {
					t.Fatalf("%s:%d: %v", name, d.line, it.Err())
				}
				return
			}
			base, _, seq, err := ParseSeq(p)
			if err != nil || (base != OpPacket && base != OpFragment) {
				return
			}
			if seq != next[dir] {
				return // a resend of what was already taken
			}
			next[dir]++
			body := p[SeqHeaderLen:]
			if base == OpPacket {
				capt.payloads = append(capt.payloads, eq2Payload{d.line, seq, tx, false, bytes.Clone(body)})
				return
			}
			if frag[dir] == nil {
				total, chunk, err := ParseFirstFragment(p)
				if err != nil {
					t.Fatalf("%s:%d: %v", name, d.line, err)
				}
				fragTotal[dir] = int(total)
				fragSeq[dir] = seq
				frag[dir] = append([]byte{}, chunk...)
			} else {
				frag[dir] = append(frag[dir], body...)
			}
			if len(frag[dir]) >= fragTotal[dir] {
				if len(frag[dir]) != fragTotal[dir] {
					t.Fatalf("%s:%d: fragment set of %d bytes, total %d", name, d.line, len(frag[dir]), fragTotal[dir])
				}
				capt.payloads = append(capt.payloads, eq2Payload{d.line, fragSeq[dir], tx, true, frag[dir]})
				frag[dir] = nil
			}
		}
		walk(d.decoded)
	}
	return capt
}

// eq2CheckUnits holds the dec= units of an annotation to a reference
// keystream: each unit's ciphertext, at its keystream position, decrypts to
// what the annotation shows.
func eq2CheckUnits(t *testing.T, name string, line int, note string, p eq2Payload, s2c, c2s *[]byte) {
	t.Helper()
	// The annotation has one "|| seq=S ..." (or "seq=S..T") part per payload.
	var part string
	for _, seg := range strings.Split(note, " || ")[1:] {
		tag := "seq=" + strconv.Itoa(int(p.seq))
		if strings.HasPrefix(seg, tag+" ") || strings.HasPrefix(seg, tag+"..") {
			part = seg
		}
	}
	units := eq2UnitRE.FindAllStringSubmatch(part, -1)
	if len(units) == 0 {
		return
	}
	// The ciphertexts of the payload, in order, as the annotation splits them.
	var cts [][]byte
	if isAppCombined(p.b) && !p.fragmented {
		it := NewAppCombinedIter(p.b)
		for e, ok := it.Next(); ok; e, ok = it.Next() {
			cts = append(cts, e)
		}
	} else {
		cts = [][]byte{p.b}
	}
	if len(cts) != len(units) {
		t.Fatalf("%s:%d: %d units annotated, %d in the payload", name, line, len(units), len(cts))
	}
	for i, u := range units {
		ct := cts[i]
		if u[1] == "1" {
			if ct[0] != 0 || ct[1] != 0 {
				t.Fatalf("%s:%d: unit %d annotated escaped, starts %x", name, line, i, ct[:2])
			}
			ct = ct[1:]
		}
		ks := *s2c
		if u[2] == "c2s" {
			ks = *c2s
		}
		pos, _ := strconv.Atoi(u[3])
		n, _ := strconv.Atoi(u[4])
		if n != len(ct) || pos+n > len(ks) {
			t.Fatalf("%s:%d: unit %d: %d bytes at %d, ciphertext %d bytes", name, line, i, n, pos, len(ct))
		}
		pt := make([]byte, n)
		for j := range pt {
			pt[j] = ct[j] ^ ks[pos+j]
		}
		if got := hex.EncodeToString(pt); got != u[5] {
			t.Errorf("%s:%d: unit %d decrypts to\n%s\nannotated\n%s", name, line, i, got, u[5])
		}
	}
}

// eq2Keystreams returns the first n bytes of both directions' keystreams
// for the capture's key.
func eq2Keystreams(n int) (s2c, c2s []byte) {
	cs, cc := eq2Ciphers(eq2CaptureK64)
	s2c, c2s = make([]byte, n), make([]byte, n)
	cs.XORKeyStream(s2c, s2c)
	cc.XORKeyStream(c2s, c2s)
	return s2c, c2s
}

func TestEQ2CaptureClient(t *testing.T) {
	const name = "eq2_login.client.txt"
	capt := eq2ReadCapture(t, name)
	s2c, c2s := eq2Keystreams(1 << 14)
	cfg := DefaultEQ2Config()
	var c EQ2Coder
	var cl EQ2App
	if err := cl.InitClient(&cfg, eq2CaptureK64, 0); err != nil {
		t.Fatal(err)
	}
	cl.SetMaxPacket(capt.maxPkt)
	var rec eq2Recorder
	var sentPlain [][]byte
	for i, p := range capt.payloads {
		if p.tx && (i == 0 || capt.payloads[i-1].line != p.line) {
			for _, u := range eq2UnitRE.FindAllStringSubmatch(capt.notes[p.line], -1) {
				if u[2] == "c2s" {
					sentPlain = append(sentPlain, codecHex(t, u[5]))
				}
			}
		}
	}
	// Walk APP lines and payloads in file order.
	ai, pi := 0, 0
	var rx []eq2AppLine
	var txPayloads [][]byte
	for ai < len(capt.apps) || pi < len(capt.payloads) {
		if pi == len(capt.payloads) || (ai < len(capt.apps) && capt.apps[ai].line < capt.payloads[pi].line) {
			a := capt.apps[ai]
			ai++
			if !a.tx {
				rx = append(rx, a)
				continue
			}
			// Long packets are shown truncated: take the whole from the
			// plaintext the next sent unit's annotation gives.
			if len(sentPlain) == 0 || !a.matches(sentPlain[0]) {
				t.Fatalf("%s:%d: no annotated unit for this packet", name, a.line)
			}
			app := sentPlain[0]
			sentPlain = sentPlain[1:]
			if err := cl.Send(&c, 0, app, &rec); err != nil {
				t.Fatalf("%s:%d: Send: %v", name, a.line, err)
			}
			continue
		}
		p := capt.payloads[pi]
		pi++
		eq2CheckUnits(t, name, p.line, capt.notes[p.line], p, &s2c, &c2s)
		if p.tx {
			txPayloads = append(txPayloads, p.b)
			continue
		}
		if err := cl.Receive(&c, bytes.Clone(p.b), p.fragmented, &rec); err != nil {
			t.Fatalf("%s:%d: Receive: %v", name, p.line, err)
		}
	}
	if len(rec.delivered) != len(rx) {
		t.Fatalf("delivered %d packets, the capture %d", len(rec.delivered), len(rx))
	}
	for i, a := range rx {
		if !a.matches(rec.delivered[i]) {
			t.Errorf("%s:%d: delivered %x", name, a.line, rec.delivered[i])
		}
	}
	if len(rec.sent) != len(txPayloads) {
		t.Fatalf("sent %d payloads, the capture %d", len(rec.sent), len(txPayloads))
	}
	for i := range txPayloads {
		if !bytes.Equal(rec.sent[i], txPayloads[i]) {
			t.Errorf("payload %d: sent\n%x\ncaptured\n%x", i, rec.sent[i], txPayloads[i])
		}
	}
	if cl.Stats.Inflated == 0 || cl.Stats.Escapes != 1 {
		t.Errorf("inflated %d, escaped %d: the capture has deflated payloads and one client escape", cl.Stats.Inflated, cl.Stats.Escapes)
	}
}

func TestEQ2CaptureServer(t *testing.T) {
	for _, history := range []int{0, EQ2Window} {
		t.Run("history="+strconv.Itoa(history), func(t *testing.T) { eq2CaptureServer(t, history) })
	}
}

// eq2CaptureServer is TestEQ2CaptureServer at one DeflateHistory.
func eq2CaptureServer(t *testing.T, history int) {
	const name = "eq2_login.server.txt"
	capt := eq2ReadCapture(t, name)
	s2c, c2s := eq2Keystreams(1 << 14)
	cfg := DefaultEQ2Config()
	cfg.DeflateHistory = history
	var c EQ2Coder
	var sv EQ2App
	sv.InitServer(&cfg, 0)
	var rec eq2Recorder
	ai, pi := 0, 0
	var rx []eq2AppLine
	var txPayloads []eq2Payload
	var txApps [][]byte
	pending := 0
	for ai < len(capt.apps) || pi < len(capt.payloads) {
		if pi == len(capt.payloads) || (ai < len(capt.apps) && capt.apps[ai].line < capt.payloads[pi].line) {
			a := capt.apps[ai]
			ai++
			if !a.tx {
				rx = append(rx, a)
				continue
			}
			// The echoes are the packets the server received; the capture
			// shows long ones truncated, so take them from what it delivered.
			var app []byte
			for _, d := range rec.delivered {
				if a.matches(d) {
					app = d
				}
			}
			if app == nil {
				t.Fatalf("%s:%d: echo of nothing received", name, a.line)
			}
			txApps = append(txApps, app)
			if err := sv.Send(&c, Nanotime(pending), app, &rec); err != nil {
				t.Fatal(err)
			}
			pending++
			continue
		}
		p := capt.payloads[pi]
		pi++
		eq2CheckUnits(t, name, p.line, capt.notes[p.line], p, &s2c, &c2s)
		if p.tx {
			if bytes.Equal(p.b, AppendEQ2KeyRequest(nil)) {
				continue // sent by the session layer on the stat request
			}
			txPayloads = append(txPayloads, p)
			if pending > 0 {
				// One combine pass per group of APP-TX lines, as EQ2EMu ran.
				sv.Tick(&c, sv.Next(), &rec)
				pending = 0
			}
			continue
		}
		if err := sv.Receive(&c, bytes.Clone(p.b), p.fragmented, &rec); err != nil {
			t.Fatalf("%s:%d: Receive: %v", name, p.line, err)
		}
		if p.line == 71 && (!sv.Keyed() || sv.K64() != eq2CaptureK64) {
			t.Fatalf("%s:%d: key packet not taken (k64 %x)", name, p.line, sv.K64())
		}
	}
	if len(rec.delivered) != len(rx) {
		t.Fatalf("delivered %d packets, the capture %d", len(rec.delivered), len(rx))
	}
	for i, a := range rx {
		if !a.matches(rec.delivered[i]) {
			t.Errorf("%s:%d: delivered %x", name, a.line, rec.delivered[i])
		}
	}
	// Our server packs the echoes as EQ2EMu did, up to deflate: the first
	// payload starts with the same 00 19 and element #0, byte for byte.
	// Later bytes depend on the deflate output (SPEC §22.6: informative),
	// and since eqgate deflates each payload without the stream's earlier
	// data, a pass may need more payloads than C zlib's (logged).
	for i, p := range rec.sent {
		t.Logf("payload %d: %d bytes, %d elements", i, len(p), eq2Elements(p))
	}
	for i, p := range txPayloads {
		t.Logf("captured %d: %d bytes, %d elements", i, len(p.b), eq2Elements(p.b))
	}
	first := txPayloads[0].b
	if !bytes.Equal(rec.sent[0][:7], first[:7]) { // 00 19, then element #0 with its length
		t.Errorf("first payload starts %x, captured %x", rec.sent[0][:7], first[:7])
	}
	var cl EQ2App
	if err := cl.InitClient(&cfg, eq2CaptureK64, 0); err != nil {
		t.Fatal(err)
	}
	var crec eq2Recorder
	if err := cl.Receive(&c, AppendEQ2KeyRequest(nil), false, &crec); err != nil {
		t.Fatal(err)
	}
	for _, p := range rec.sent {
		if err := cl.Receive(&c, bytes.Clone(p), EQ2Fragmented(len(p), capt.maxPkt), &crec); err != nil {
			t.Fatal(err)
		}
	}
	if len(crec.delivered) != len(txApps) {
		t.Fatalf("client decoded %d of %d echoes", len(crec.delivered), len(txApps))
	}
	for i := range txApps {
		if !bytes.Equal(crec.delivered[i], txApps[i]) {
			t.Errorf("echo %d decodes to %x, sent %x", i, crec.delivered[i], txApps[i])
		}
	}
}

// eq2Elements is the number of prepared payloads in an OP_Packet payload.
func eq2Elements(p []byte) int {
	if !isAppCombined(p) {
		return 1
	}
	n := 0
	it := NewAppCombinedIter(p)
	for _, ok := it.Next(); ok; _, ok = it.Next() {
		n++
	}
	return n
}
