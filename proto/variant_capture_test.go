package proto

import (
	"bytes"
	"hash/crc32"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The LEGACY and EQ2 captures (captures/legacy, captures/eq2; the RS
// tests glob captures/*.txt and never see them) replayed through eqgate's
// own session in both roles: each side's received datagrams go into a
// session of that side's role, and what it delivers must be exactly what
// the peer's application handed to its stream (the peer file's APP-TX).

var variantSessionRE = regexp.MustCompile(`connect_code=0x([0-9a-f]{8}) .* variant=(\w+) format=0x([0-9a-f]{2})`)

type variantCapture struct {
	variant Variant
	code    uint32
	format  uint8
	lines   []capLine
}

func readVariantCapture(t *testing.T, path string) variantCapture {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var vc variantCapture
	for _, l := range strings.Split(string(raw), "\n") {
		if !strings.HasPrefix(l, "# SESSION") {
			continue
		}
		m := variantSessionRE.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("%s: SESSION line without variant: %q", path, l)
		}
		c, _ := strconv.ParseUint(m[1], 16, 32)
		f, _ := strconv.ParseUint(m[3], 16, 8)
		v, ok := ParseVariant(m[2])
		if !ok {
			t.Fatalf("%s: variant %q", path, m[2])
		}
		vc.variant, vc.code, vc.format = v, uint32(c), uint8(f)
	}
	_, _, _, vc.lines = parseCapture(t, path)
	return vc
}

// variantCaptureConfig is the configuration of the captured service.
func variantCaptureConfig(t testing.TB, vc variantCapture, chat bool) *Config {
	c := ConfigFor(vc.variant)
	c.EncodePasses = legacyPasses(vc.format)
	if chat {
		c.StaleConnection = 45 * time.Second
	}
	return mustCfg(t, c)
}

// replayVariant feeds the RX datagrams of one side's file into a session of
// that side's role and returns the peer and the datagrams it sent.
func replayVariant(t *testing.T, vc variantCapture, client, chat bool) *peer {
	t.Helper()
	c := variantCaptureConfig(t, vc, chat)
	p := newPeer()
	started := false
	if client {
		if err := p.s.InitClient(c, vc.code, 0); err != nil {
			t.Fatal(err)
		}
		if vc.variant == VariantEQ2 {
			// The captures' K64 (SPEC §26).
			if err := p.s.SetEQ2Key(0x0123456789abcdef); err != nil {
				t.Fatal(err)
			}
		}
		p.s.Tick(&p.env, 0)
		var req []byte
		for _, l := range vc.lines {
			if l.dir == "TX" {
				req = l.data
				break
			}
		}
		// Byte-exact: version 0, the captured code, max 512.
		if d := p.sink.take(); len(d) != 1 || !bytes.Equal(d[0], req) {
			t.Fatalf("client sent %x, captured %x", d, req)
		}
		started = true
	}
	for _, l := range vc.lines {
		if l.dir != "RX" {
			continue
		}
		now := Nanotime(l.at * 1e9)
		if !started {
			if ClassifyNoSession(l.data) != NoSessionCreate {
				continue
			}
			if err := p.s.InitServer(c, 0, now); err != nil {
				t.Fatal(err)
			}
			started = true
		}
		p.s.Receive(&p.env, now, bytes.Clone(l.data))
		p.s.Flush(&p.env, now)
	}
	return p
}

// appTX returns the APP-TX lines of a capture file.
func appTX(lines []capLine) []capLine {
	var out []capLine
	for _, l := range lines {
		if l.dir == "APP-TX" {
			out = append(out, l)
		}
	}
	return out
}

func sameApp(g []byte, w capLine) bool {
	return len(g) == w.n && bytes.HasPrefix(g, w.data) && (!w.trunc || crc32.ChecksumIEEE(g) == w.crc)
}

func TestVariantCaptureReplay(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(protocolDir, "captures", "*", "*.client.txt"))
	if len(files) < 3 {
		t.Fatalf("LEGACY/EQ2 captures missing: %v", files)
	}
	for _, cpath := range files {
		name := strings.TrimSuffix(filepath.Base(cpath), ".client.txt")
		spath := strings.TrimSuffix(cpath, ".client.txt") + ".server.txt"
		chat := strings.Contains(name, "chat")
		cl, sv := readVariantCapture(t, cpath), readVariantCapture(t, spath)
		for _, role := range []string{"server", "client"} {
			t.Run(name+"/"+role, func(t *testing.T) {
				mine, theirs := sv, cl
				if role == "client" {
					mine, theirs = cl, sv
				}
				p := replayVariant(t, mine, role == "client", chat)
				sent := p.sink.take()
				if role == "server" {
					// The 21-byte response is a pure function of the
					// request: byte-exact.
					var resp []byte
					for _, l := range mine.lines {
						if l.dir == "TX" {
							resp = l.data
							break
						}
					}
					if len(sent) == 0 || !bytes.Equal(sent[0], resp) {
						t.Fatalf("first datagram %x, captured %x", sent[:min(1, len(sent))], resp)
					}
				}
				// Every datagram we sent passes the captured peer's CRC.
				for _, d := range sent {
					if !Exempt(d) && !trailerMatches(d[len(d)-2:], CRC(variants[mine.variant].fixedKey, d[:len(d)-2])) {
						t.Fatalf("sent %x with a bad CRC", d)
					}
				}
				st := p.s.Stats()
				for r, n := range st.Drops {
					// Only what the captured peer sends twice: resends of
					// packets already delivered are re-acked, not dropped.
					// And its acks of the captured side's data, which this
					// replay never sent: bad_ack, ignored.
					if n != 0 && Reason(r) != ReasonIgnored && Reason(r) != ReasonBadAck {
						t.Fatalf("%d drops for %v (all %v)", n, Reason(r), st.Drops)
					}
				}
				want := appTX(theirs.lines)
				got := p.h.got
				if len(got) != len(want) {
					t.Fatalf("delivered %d application packets, peer sent %d", len(got), len(want))
				}
				for i, w := range want {
					if !sameApp(got[i].app, w) {
						t.Fatalf("packet %d: got %d bytes %x, peer sent %d bytes %x", i, len(got[i].app), got[i].app[:min(16, len(got[i].app))], w.n, w.data[:min(16, len(w.data))])
					}
				}
			})
		}
	}
}

// ucsRead is how the 2017 UCS stream reads a client's application packet
// (SPEC §21.4 (b), legacy_chat.server.txt line 47): the 1-byte opcode, then
// the body from offset 2, byte 1 lost.
func ucsRead(p []byte) []byte {
	if len(p) < 2 {
		return bytes.Clone(p)
	}
	return append([]byte{p[0]}, p[2:]...)
}

// TestChatFiller: eqgate's LEGACY client on a chat stream puts a filler byte
// after the opcode, so that what the UCS server's handler reads is what the
// application sent. The UCS rule is checked on the capture first (every
// client APP-TX, read that way, is the server's APP-RX), then applied to
// eqgate's own datagrams; on a world stream, or with ChatFiller off, the
// packet leaves as given.
func TestChatFiller(t *testing.T) {
	dir := filepath.Join(protocolDir, "captures", "legacy")
	cl := readVariantCapture(t, filepath.Join(dir, "legacy_chat.client.txt"))
	sv := readVariantCapture(t, filepath.Join(dir, "legacy_chat.server.txt"))
	var msgs [][]byte
	tx := appTX(cl.lines)
	k := 0
	for _, l := range sv.lines {
		if l.dir != "APP-RX" {
			continue
		}
		if w := tx[k]; !w.trunc && !l.trunc && !bytes.Equal(ucsRead(w.data), l.data) {
			t.Fatalf("capture: client sent %x, UCS delivered %x", w.data, l.data)
		}
		k++
		if !l.trunc && l.data[0] != 0 {
			msgs = append(msgs, l.data)
		}
	}
	if len(msgs) < 4 {
		t.Fatalf("%d usable capture messages", len(msgs))
	}
	msgs = append(msgs, []byte{0x02}, bytes.Repeat([]byte{0x07, 0x41}, 400)) // opcode alone; a fragment set
	for _, tc := range []struct {
		name   string
		format Pass
		filler bool
		want   func([]byte) []byte // what the server's stream reads from our payload
	}{
		{"chat", PassXOR, true, ucsRead},
		{"chat_raw", PassXOR, false, func(p []byte) []byte { return p }},
		{"world", PassCompress, true, func(p []byte) []byte { return p }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ConfigFor(VariantLegacy)
			c.ChatFiller = tc.filler
			p := newPeer()
			if err := p.s.InitClient(mustCfg(t, c), 7, 0); err != nil {
				t.Fatal(err)
			}
			p.s.Tick(&p.env, 0)
			p.s.Receive(&p.env, 0, SessionResponse{ConnectCode: 7, Key: LegacyKey, CRCBytes: 2, Passes: [2]Pass{tc.format}, MaxPacketSize: 512}.AppendLegacyTo(nil))
			p.s.Flush(&p.env, 0)
			p.sink.take()
			for i, m := range msgs {
				if len(m) == 1 && tc.format != PassXOR {
					continue // refused on world, zone and login (SPEC §21.4 (b))
				}
				if err := p.s.Send(&p.env, msec, 0, m, true); err != nil {
					t.Fatal(err)
				}
				p.s.Flush(&p.env, msec)
				var payload []byte
				total := -1
				for _, e := range decodeAll(t, p, p.sink.take()) {
					switch Opcode(e[1]) {
					case OpPacket:
						payload = e[SeqHeaderLen:]
					case OpFragment:
						if total < 0 {
							total = int(e[4])<<24 | int(e[5])<<16 | int(e[6])<<8 | int(e[7])
							payload = bytes.Clone(e[FirstFragmentHeaderLen:])
						} else {
							payload = append(payload, e[SeqHeaderLen:]...)
						}
					}
				}
				if total >= 0 && len(payload) != total {
					t.Fatalf("message %d: fragments carry %d of %d bytes", i, len(payload), total)
				}
				if got := tc.want(payload); !bytes.Equal(got, m) {
					t.Fatalf("message %d: sent %x, the server reads %x", i, m[:min(8, len(m))], got[:min(8, len(got))])
				}
			}
		})
	}
}
