package proto

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The captures in shared/protocol/captures are conversations between two
// EQEmu reliable-stream endpoints, one file per side. Each datagram line is
// followed by an annotation that gives the CRC, the plaintext after the
// passes, and a parse. This test holds every datagram to all three and
// re-encodes the plaintext to the captured bytes.

var (
	codecSessionRE = regexp.MustCompile(`^# SESSION \S+ connect_code=0x([0-9a-f]{8}) encode_key=0x([0-9a-f]{8}) ` +
		`crc_bytes=(\d+) encode_pass1=(\d+) encode_pass2=(\d+) max_packet_size=(\d+) `)
	codecDatagramRE = regexp.MustCompile(`^(\d+\.\d+) (TX|RX) local=(\d+) peer=(\S+) len=(\d+) ([0-9a-f]+)$`)
	codecAppRE      = regexp.MustCompile(`^\d+\.\d+ APP-(TX|RX) `)
	codecCRCNoteRE  = regexp.MustCompile(`^    ; crc=ok\(([0-9a-f]+)\) decoded=([0-9a-f]+) (.+)$`)
	codecPlainRE    = regexp.MustCompile(`^    ; plain (.+)$`)
)

// codecDatagram is one captured datagram with its annotation.
type codecDatagram struct {
	line    int
	wire    []byte
	params  *Params // nil before the SESSION line (the handshake)
	plain   bool    // annotated "plain": exempt from CRC and passes
	crcNote string  // the trailer shown in crc=ok(...)
	decoded []byte  // the annotated plaintext
	parse   string  // the annotated parse
}

func codecReadCapture(t *testing.T, path string) []codecDatagram {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<16), 1<<20)
	var (
		out    []codecDatagram
		params *Params
		cur    *codecDatagram // awaiting its annotation
		n      int
	)
	for sc.Scan() {
		n++
		line := sc.Text()
		if cur != nil && !strings.HasPrefix(line, "    ;") {
			t.Fatalf("%s:%d: datagram at line %d has no annotation", path, n, cur.line)
		}
		switch {
		case strings.HasPrefix(line, "# SESSION"):
			m := codecSessionRE.FindStringSubmatch(line)
			if m == nil {
				t.Fatalf("%s:%d: unparsed SESSION line %q", path, n, line)
			}
			key, _ := strconv.ParseUint(m[2], 16, 32)
			crc, _ := strconv.Atoi(m[3])
			p1, _ := strconv.Atoi(m[4])
			p2, _ := strconv.Atoi(m[5])
			maxp, _ := strconv.Atoi(m[6])
			p := codecParams(t, uint32(key), crc, [2]int{p1, p2}, maxp)
			params = &p
		case strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "    ;"):
			if cur == nil {
				t.Fatalf("%s:%d: annotation without a datagram", path, n)
			}
			if m := codecCRCNoteRE.FindStringSubmatch(line); m != nil {
				cur.crcNote, cur.decoded, cur.parse = m[1], codecHex(t, m[2]), m[3]
			} else if m := codecPlainRE.FindStringSubmatch(line); m != nil {
				cur.plain, cur.parse = true, m[1]
			} else {
				t.Fatalf("%s:%d: unparsed annotation %q", path, n, line)
			}
			out = append(out, *cur)
			cur = nil
		case codecAppRE.MatchString(line):
			// Application payloads (often shown truncated): not wire data.
		default:
			m := codecDatagramRE.FindStringSubmatch(line)
			if m == nil {
				t.Fatalf("%s:%d: unparsed line %q", path, n, line)
			}
			wire := codecHex(t, m[6])
			if l, _ := strconv.Atoi(m[5]); l != len(wire) {
				t.Fatalf("%s:%d: len=%d but %d bytes of hex", path, n, l, len(wire))
			}
			cur = &codecDatagram{line: n, wire: wire, params: params}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if cur != nil {
		t.Fatalf("%s: last datagram has no annotation", path)
	}
	return out
}

// codecDescribe renders a decoded packet the way the capture annotations do,
// from this package's parsers.
func codecDescribe(pkt []byte) string {
	if len(pkt) < 2 || pkt[0] != 0 {
		return fmt.Sprintf("App(len=%d)", len(pkt))
	}
	op := Opcode(pkt[1])
	if base, stream, seq, err := ParseSeq(pkt); err == nil {
		switch base {
		case OpAck:
			return fmt.Sprintf("Ack(stream=%d seq=%d)", stream, seq)
		case OpOutOfOrderAck:
			return fmt.Sprintf("OutOfOrderAck(stream=%d seq=%d)", stream, seq)
		case OpPacket:
			return fmt.Sprintf("Packet(stream=%d seq=%d payload_len=%d)", stream, seq, len(pkt)-SeqHeaderLen)
		case OpFragment:
			s := fmt.Sprintf("Fragment(stream=%d seq=%d body_len=%d", stream, seq, len(pkt)-SeqHeaderLen)
			if total, _, err := ParseFirstFragment(pkt); err == nil {
				s += fmt.Sprintf(" [if first: total_size=%d]", total)
			}
			return s + ")"
		}
	}
	switch op {
	case OpSessionRequest:
		r, err := ParseSessionRequest(pkt)
		if err != nil {
			return "bad SessionRequest: " + err.Error()
		}
		return fmt.Sprintf("SessionRequest(proto=%d connect_code=0x%08x max_packet_size=%d)",
			r.ProtocolVersion, r.ConnectCode, r.MaxPacketSize)
	case OpSessionResponse:
		r, err := ParseSessionResponse(pkt)
		if err != nil {
			return "bad SessionResponse: " + err.Error()
		}
		return fmt.Sprintf("SessionResponse(connect_code=0x%08x encode_key=0x%08x crc_bytes=%d pass1=%d pass2=%d max_packet_size=%d)",
			r.ConnectCode, r.Key, r.CRCBytes, r.Passes[0], r.Passes[1], r.MaxPacketSize)
	case OpSessionDisconnect:
		if len(pkt) < 6 {
			return "SessionDisconnect"
		}
		return fmt.Sprintf("SessionDisconnect(connect_code=0x%02x%02x%02x%02x)", pkt[2], pkt[3], pkt[4], pkt[5])
	case OpKeepAlive:
		return "KeepAlive"
	case OpOutOfSession:
		return "OutOfSession"
	case OpCombined:
		var parts []string
		it := NewCombinedIter(pkt)
		for e, ok := it.Next(); ok; e, ok = it.Next() {
			parts = append(parts, codecDescribe(e))
		}
		if it.Err() != nil {
			parts = append(parts, "truncated")
		}
		return "Combined[" + strings.Join(parts, ", ") + "]"
	}
	return op.String()
}

func TestCodecCaptures(t *testing.T) {
	files, err := filepath.Glob(codecSharedDir + "/captures/*.txt")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no captures in %s/captures", codecSharedDir)
	}
	var c Coder
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			dgs := codecReadCapture(t, path)
			var exact, roundTrip, keepalives, ours, theirs int
			for _, dg := range dgs {
				where := fmt.Sprintf("line %d (%x)", dg.line, dg.wire)
				if dg.plain {
					if !Exempt(dg.wire) {
						t.Fatalf("%s: annotated plain but not exempt", where)
					}
					if got := codecDescribe(dg.wire); got != dg.parse {
						t.Fatalf("%s: parse %q, annotation %q", where, got, dg.parse)
					}
					if dg.params != nil {
						got, err := c.Decode(dg.params, bytes.Clone(dg.wire))
						if err != nil || !bytes.Equal(got, dg.wire) {
							t.Fatalf("%s: Decode = %x, %v; exempt packets pass as they are", where, got, err)
						}
						if enc := c.AppendEncode(dg.params, nil, dg.wire); !bytes.Equal(enc, dg.wire) {
							t.Fatalf("%s: AppendEncode = %x; exempt packets are sent raw", where, enc)
						}
					}
					continue
				}
				p := dg.params
				if p == nil {
					t.Fatalf("%s: encoded datagram before the SESSION line", where)
				}
				if Exempt(dg.wire) {
					t.Fatalf("%s: exempt datagram annotated with a CRC", where)
				}
				// The annotated trailer is the datagram's, and it verifies.
				n := len(dg.wire) - p.CRCBytes
				if hex.EncodeToString(dg.wire[n:]) != dg.crcNote {
					t.Fatalf("%s: trailer %x, annotation %s", where, dg.wire[n:], dg.crcNote)
				}
				if !trailerMatches(dg.wire[n:], CRC(p.Key, dg.wire[:n])) {
					t.Fatalf("%s: CRC does not verify with key %#x", where, p.Key)
				}
				// The passes undo to exactly the annotated plaintext.
				got, err := c.decodeEncoded(p, bytes.Clone(dg.wire), false)
				if err != nil || !bytes.Equal(got, dg.decoded) {
					t.Fatalf("%s: passes undo to %x, %v\nannotation %x", where, got, err, dg.decoded)
				}
				if desc := codecDescribe(dg.decoded); desc != dg.parse {
					t.Fatalf("%s: parse\n got %s\nwant %s", where, desc, dg.parse)
				}
				// Keepalives are discarded before the CRC by RS, and their
				// annotated plaintext keeps the flag byte a receiver cannot
				// strip from an empty region (SPEC §5.4, §8.2); the
				// packet the sender built was 00 06.
				if dg.decoded[1] == byte(OpKeepAlive) {
					if _, err := c.Decode(p, bytes.Clone(dg.wire)); !errors.Is(err, ErrKeepAlive) {
						t.Fatalf("%s: Decode err %v, want ErrKeepAlive", where, err)
					}
					if enc := c.AppendEncode(p, nil, AppendKeepAlive(nil)); !bytes.Equal(enc, dg.wire) {
						t.Fatalf("%s: keepalive encodes as %x", where, enc)
					}
					keepalives++
					continue
				}
				if got, err := c.Decode(p, bytes.Clone(dg.wire)); err != nil || !bytes.Equal(got, dg.decoded) {
					t.Fatalf("%s: Decode = %x, %v", where, got, err)
				}
				// Re-encode. Byte-exact unless deflate ran: only regions
				// over 30 bytes are deflated, and C zlib's bytes differ from
				// ours, so those must round-trip instead.
				enc := c.AppendEncode(p, nil, dg.decoded)
				if bytes.Equal(enc, dg.wire) {
					exact++
					continue
				}
				if !p.Compressing() || len(dg.decoded)-regionOffset(dg.decoded) <= CompressThreshold {
					t.Fatalf("%s: re-encoded as %x", where, enc)
				}
				ours += len(enc)
				theirs += len(dg.wire)
				back, err := c.Decode(p, enc)
				if err != nil || !bytes.Equal(back, dg.decoded) {
					t.Fatalf("%s: our encoding %x decodes to %x, %v", where, enc, back, err)
				}
				roundTrip++
			}
			t.Logf("%d datagrams: %d re-encoded byte-exact, %d round-tripped through deflate "+
				"(%d wire bytes, C zlib %d), %d keepalives", len(dgs), exact, roundTrip, ours, theirs, keepalives)
			if exact == 0 || len(dgs) < 100 {
				t.Fatalf("too little checked: %d datagrams, %d exact", len(dgs), exact)
			}
		})
	}
}
