package proto

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"hash/crc32"
	"os"
	"strconv"
	"strings"
	"testing"
)

// codecSharedDir is shared/protocol as seen from the package directory: the
// repository and shared/ sit side by side (/work/<repo> and /work/shared,
// and likewise in CI).
const codecSharedDir = "../../shared/protocol"

func codecHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// codecCRCWithParams is the CRC as the hot path computes it, from the
// Params' precomputed seed.
func codecCRCWithParams(p *Params, data []byte) uint32 {
	return crc32.Update(p.crcSeed, crc32.IEEETable, data)
}

func codecParams(t testing.TB, key uint32, crcBytes int, passes [2]int, maxPacket int) Params {
	t.Helper()
	p, err := NewParams(key, crcBytes, [2]Pass{Pass(passes[0]), Pass(passes[1])}, maxPacket)
	if err != nil {
		t.Fatalf("NewParams(%#x, %d, %v, %d): %v", key, crcBytes, passes, maxPacket, err)
	}
	return p
}

// codecVectors is the part of vectors.json that concerns the wire layer.
// resend_delay, rolling_ping and conversation belong to the session layer.
type codecVectors struct {
	CRC []struct {
		Data  string `json:"data"`
		Key   uint32 `json:"key"`
		CRC32 string `json:"crc32"`
		Wire2 string `json:"wire2"`
		Wire4 string `json:"wire4"`
	} `json:"crc"`
	XOR []struct {
		Key     uint32 `json:"key"`
		Plain   string `json:"plain"`
		Encoded string `json:"encoded"`
	} `json:"xor"`
	CompressionPass []struct {
		RegionIn    string `json:"region_in"`
		RegionOut   string `json:"region_out"`
		Flag        string `json:"flag"`
		Informative bool   `json:"informative"`
	} `json:"compression_pass"`
	WireEncode []struct {
		Name        string `json:"name"`
		Decoded     string `json:"decoded"`
		Passes      [2]int `json:"passes"`
		Key         uint32 `json:"key"`
		CRCBytes    int    `json:"crc_bytes"`
		Wire        string `json:"wire"`
		Informative bool   `json:"informative"`
	} `json:"wire_encode"`
	WireDecodeSpecial []struct {
		Name     string `json:"name"`
		Wire     string `json:"wire"`
		Passes   [2]int `json:"passes"`
		Key      uint32 `json:"key"`
		CRCBytes int    `json:"crc_bytes"`
		Result   string `json:"result"`
		Decoded  string `json:"decoded"`
	} `json:"wire_decode_special"`
	Session []struct {
		Name   string            `json:"name"`
		Fields map[string]uint64 `json:"fields"`
		Bytes  string            `json:"bytes"`
		Wire   string            `json:"wire_crc2_key_12345678_no_passes"`
	} `json:"session"`
	Combined struct {
		Subpackets   []string `json:"subpackets"`
		Combined     string   `json:"combined"`
		ParsedBack   []string `json:"parsed_back"`
		WireCompress string   `json:"wire_compress_key_12345678_crc2"`
		WireNoPasses string   `json:"wire_nopasses_key_12345678_crc2"`
		Truncated    struct {
			Packet string   `json:"packet"`
			Parsed []string `json:"parsed"`
		} `json:"truncated_example"`
	} `json:"combined"`
	AppCombined []struct {
		Packet     string   `json:"packet"`
		Subpackets []string `json:"subpackets"`
	} `json:"app_combined"`
	Fragments []struct {
		MaxPacketSize int      `json:"max_packet_size"`
		CRCBytes      int      `json:"crc_bytes"`
		Stream        int      `json:"stream"`
		FirstSeq      int      `json:"first_seq"`
		AppLen        int      `json:"app_len"`
		App           string   `json:"app"`
		Packets       []string `json:"packets"`
		PacketLengths []int    `json:"packet_lengths"`
		Reassembled   bool     `json:"reassembled_equals_app"`
	} `json:"fragments"`
	AppFraming []struct {
		OpcodeSize      int    `json:"opcode_size"`
		Opcode          int    `json:"opcode"`
		Data            string `json:"data"`
		AppBytes        string `json:"app_bytes"`
		AfterZeroEscape string `json:"after_zero_escape"`
		ReliableDecoded string `json:"reliable_decoded"`
		Unreliable      string `json:"unreliable_decoded"`
	} `json:"app_framing"`
	SequenceCompare []struct {
		Expected uint16 `json:"expected"`
		Actual   uint16 `json:"actual"`
		Order    string `json:"order"`
	} `json:"sequence_compare"`
	EQ2 struct {
		CRC []struct {
			Data  string `json:"data"`
			Key   string `json:"key_hex"`
			Wire2 string `json:"wire2"`
		} `json:"crc"`
	} `json:"eq2"`
}

func codecLoadVectors(t *testing.T) *codecVectors {
	t.Helper()
	raw, err := os.ReadFile(codecSharedDir + "/vectors.json")
	if err != nil {
		t.Fatalf("vectors.json must sit in %s beside the repository: %v", codecSharedDir, err)
	}
	var v codecVectors
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	// Guard against a schema change silently emptying a section.
	for name, n := range map[string]int{
		"crc": len(v.CRC), "xor": len(v.XOR), "compression_pass": len(v.CompressionPass),
		"wire_encode": len(v.WireEncode), "wire_decode_special": len(v.WireDecodeSpecial),
		"session": len(v.Session), "combined.subpackets": len(v.Combined.Subpackets),
		"app_combined": len(v.AppCombined), "fragments": len(v.Fragments),
		"app_framing": len(v.AppFraming), "sequence_compare": len(v.SequenceCompare),
		"eq2.crc": len(v.EQ2.CRC),
	} {
		if n == 0 {
			t.Fatalf("vectors.json: section %s is empty or renamed", name)
		}
	}
	return &v
}

func TestCodecVectorsCRC(t *testing.T) {
	v := codecLoadVectors(t)
	for i, tc := range v.CRC {
		t.Run(strconv.Itoa(i)+"_"+tc.CRC32, func(t *testing.T) {
			data := codecHex(t, tc.Data)
			want, _ := strconv.ParseUint(tc.CRC32, 16, 32)
			if got := CRC(tc.Key, data); got != uint32(want) {
				t.Fatalf("CRC(%#x, %x) = %08x, want %s", tc.Key, data, got, tc.CRC32)
			}
			p := codecParams(t, tc.Key, 2, [2]int{}, 0)
			if got := codecCRCWithParams(&p, data); got != uint32(want) {
				t.Fatalf("seeded CRC = %08x, want %s", got, tc.CRC32)
			}
			for _, tr := range []struct {
				n    int
				want string
			}{{2, tc.Wire2}, {4, tc.Wire4}, {0, ""}} {
				got := appendCRC(nil, uint32(want), tr.n)
				if hex.EncodeToString(got) != tr.want {
					t.Fatalf("%d-byte trailer %x, want %s", tr.n, got, tr.want)
				}
				if !trailerMatches(got, uint32(want)) || (tr.n > 0 && trailerMatches(got, uint32(want)^0x0101)) {
					t.Fatalf("trailerMatches disagrees on %x", got)
				}
			}
		})
	}
	for i, tc := range v.EQ2.CRC {
		t.Run("eq2_"+strconv.Itoa(i), func(t *testing.T) {
			key, _ := strconv.ParseUint(tc.Key, 16, 32)
			got := appendCRC(nil, CRC(uint32(key), codecHex(t, tc.Data)), 2)
			if hex.EncodeToString(got) != tc.Wire2 {
				t.Fatalf("trailer %x, want %s", got, tc.Wire2)
			}
		})
	}
}

func TestCodecVectorsXOR(t *testing.T) {
	v := codecLoadVectors(t)
	for i, tc := range v.XOR {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			b := codecHex(t, tc.Plain)
			XOREncode(b, tc.Key)
			if hex.EncodeToString(b) != tc.Encoded {
				t.Fatalf("XOREncode(%s, %#x) = %x, want %s", tc.Plain, tc.Key, b, tc.Encoded)
			}
			XORDecode(b, tc.Key)
			if hex.EncodeToString(b) != tc.Plain {
				t.Fatalf("XORDecode = %x, want %s", b, tc.Plain)
			}
		})
	}
}

func TestCodecVectorsCompressionPass(t *testing.T) {
	v := codecLoadVectors(t)
	var c Coder
	for i, tc := range v.CompressionPass {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			in, out := codecHex(t, tc.RegionIn), codecHex(t, tc.RegionOut)
			if hex.EncodeToString(out[:1]) != tc.Flag {
				t.Fatalf("vector flag %s but region_out starts %02x", tc.Flag, out[0])
			}
			hdr := []byte{0x00, byte(OpPacket)}
			// Receive side: every row, informative or not, must undo.
			pkt, err := c.uncompress(append(bytes.Clone(hdr), out...), len(hdr))
			if err != nil || !bytes.Equal(pkt[len(hdr):], in) || !bytes.Equal(pkt[:len(hdr)], hdr) {
				t.Fatalf("uncompress(%x) = %x, %v; want region %x", out, pkt, err, in)
			}
			// Send side: byte-exact unless the bytes depend on the zlib
			// implementation; then ours must round-trip and keep its flag.
			enc := c.compress(append(bytes.Clone(hdr), in...), len(hdr), CompressThreshold)
			if !tc.Informative && !bytes.Equal(enc[len(hdr):], out) {
				t.Fatalf("compress(%x) = %x, want %x", in, enc[len(hdr):], out)
			}
			if enc[len(hdr)] != out[0] {
				t.Fatalf("compress flag %02x, vector %02x", enc[len(hdr)], out[0])
			}
			back, err := c.uncompress(enc, len(hdr))
			if err != nil || !bytes.Equal(back[len(hdr):], in) {
				t.Fatalf("round trip %x, %v", back, err)
			}
		})
	}
}

func TestCodecVectorsWireEncode(t *testing.T) {
	v := codecLoadVectors(t)
	var c Coder
	for _, tc := range v.WireEncode {
		t.Run(tc.Name, func(t *testing.T) {
			p := codecParams(t, tc.Key, tc.CRCBytes, tc.Passes, 0)
			decoded, wire := codecHex(t, tc.Decoded), codecHex(t, tc.Wire)
			enc := c.AppendEncode(&p, []byte{0xee}, decoded)
			if enc[0] != 0xee {
				t.Fatal("AppendEncode overwrote dst")
			}
			enc = enc[1:]
			if !tc.Informative && !bytes.Equal(enc, wire) {
				t.Fatalf("AppendEncode(%x) = %x, want %x", decoded, enc, wire)
			}
			if strings.HasPrefix(tc.Name, "keepalive") {
				// An RS receiver discards keepalives before the CRC check;
				// the CRC is still right.
				if _, err := c.Decode(&p, bytes.Clone(wire)); !errors.Is(err, ErrKeepAlive) {
					t.Fatalf("Decode(keepalive) err = %v", err)
				}
				n := len(wire) - tc.CRCBytes
				if !trailerMatches(wire[n:], CRC(tc.Key, wire[:n])) {
					t.Fatal("keepalive CRC does not verify")
				}
				return
			}
			got, err := c.Decode(&p, bytes.Clone(wire))
			if err != nil || !bytes.Equal(got, decoded) {
				t.Fatalf("Decode(%x) = %x, %v; want %x", wire, got, err, decoded)
			}
			if tc.Informative {
				got, err := c.Decode(&p, enc)
				if err != nil || !bytes.Equal(got, decoded) {
					t.Fatalf("own encoding %x decodes to %x, %v", enc, got, err)
				}
			}
		})
	}
}

func TestCodecVectorsWireDecodeSpecial(t *testing.T) {
	v := codecLoadVectors(t)
	var c Coder
	for _, tc := range v.WireDecodeSpecial {
		t.Run(tc.Name, func(t *testing.T) {
			p := codecParams(t, tc.Key, tc.CRCBytes, tc.Passes, 0)
			got, err := c.Decode(&p, codecHex(t, tc.Wire))
			switch tc.Result {
			case "ok", "plain":
				if err != nil || hex.EncodeToString(got) != tc.Decoded {
					t.Fatalf("Decode = %x, %v; want %s", got, err, tc.Decoded)
				}
			case "ignored":
				if ReasonOf(err) != ReasonIgnored || got != nil {
					t.Fatalf("Decode = %x, %v; want an ignored reason", got, err)
				}
			case "bad_crc":
				if !errors.Is(err, ErrBadCRC) || ReasonOf(err) != ReasonBadCRC || got != nil {
					t.Fatalf("Decode = %x, %v; want ErrBadCRC", got, err)
				}
			default:
				t.Fatalf("unknown result %q", tc.Result)
			}
		})
	}
}

func TestCodecVectorsSession(t *testing.T) {
	v := codecLoadVectors(t)
	var c Coder
	for _, tc := range v.Session {
		t.Run(tc.Name, func(t *testing.T) {
			b, f := codecHex(t, tc.Bytes), tc.Fields
			var built []byte
			switch {
			case strings.HasPrefix(tc.Name, "session_request"):
				want := SessionRequest{uint32(f["protocol_version"]), uint32(f["connect_code"]), uint32(f["max_packet_size"])}
				got, err := ParseSessionRequest(b)
				if err != nil || got != want {
					t.Fatalf("parse = %+v, %v; want %+v", got, err, want)
				}
				built = want.AppendTo(nil)
				if _, err := ParseSessionRequest(b[:len(b)-1]); !errors.Is(err, ErrShortRequest) {
					t.Fatalf("13-byte request: %v", err)
				}
			case tc.Name == "session_response_legacy_21_bytes":
				want := SessionResponse{uint32(f["session"]), uint32(f["key"]), uint8(f["crc_bytes"]),
					[2]Pass{Pass(f["format_flags"]), Pass(f["unknown"])}, uint32(f["max_length"])}
				got, err := ParseSessionResponse(b)
				if err != nil || got != want {
					t.Fatalf("parse = %+v, %v; want %+v", got, err, want)
				}
				if len(b) != LegacySessionResponseLen {
					t.Fatalf("legacy form is %d bytes", len(b))
				}
				built = want.AppendLegacyTo(nil)
			case strings.HasPrefix(tc.Name, "session_response"):
				want := SessionResponse{uint32(f["connect_code"]), uint32(f["encode_key"]), uint8(f["crc_bytes"]),
					[2]Pass{Pass(f["encode_pass1"]), Pass(f["encode_pass2"])}, uint32(f["max_packet_size"])}
				got, err := ParseSessionResponse(b)
				if err != nil || got != want {
					t.Fatalf("parse = %+v, %v; want %+v", got, err, want)
				}
				built = want.AppendTo(nil)
				if _, err := ParseSessionResponse(b[:SessionResponseLen-1]); !errors.Is(err, ErrShortResponse) {
					t.Fatalf("16-byte response: %v", err)
				}
			case tc.Name == "session_disconnect_decoded":
				built = AppendSessionDisconnect(nil, uint32(f["connect_code"]))
				p := codecParams(t, 0x12345678, 2, [2]int{}, 0)
				if w := c.AppendEncode(&p, nil, built); hex.EncodeToString(w) != tc.Wire {
					t.Fatalf("wire %x, want %s", w, tc.Wire)
				}
				if got, err := c.Decode(&p, codecHex(t, tc.Wire)); err != nil || !bytes.Equal(got, b) {
					t.Fatalf("Decode(wire) = %x, %v", got, err)
				}
			case tc.Name == "out_of_session_reply":
				if f["connect_code"] != 0 {
					t.Fatalf("connect_code %d", f["connect_code"])
				}
				built = AppendOutOfSession(nil)
				p := codecParams(t, 0x12345678, 2, [2]int{1, 4}, 0)
				if w := c.AppendEncode(&p, nil, built); !bytes.Equal(w, b) {
					t.Fatalf("OutOfSession encoded as %x: it is sent raw", w)
				}
			case tc.Name == "session_stat_request":
				want := SessionStatRequest{uint16(f["timestamp"]), uint32(f["stat_ping"]), uint32(f["avg_ping"]),
					uint32(f["min_ping"]), uint32(f["max_ping"]), uint32(f["last_ping"]), f["packets_sent"], f["packets_recv"]}
				got, err := ParseSessionStatRequest(b)
				if err != nil || got != want {
					t.Fatalf("parse = %+v, %v; want %+v", got, err, want)
				}
				built = want.AppendTo(nil)
			case tc.Name == "session_stat_response":
				want := SessionStatResponse{uint16(f["timestamp_echo"]), uint32(f["our_timestamp"]),
					f["client_sent_echo"], f["client_recv_echo"], f["server_sent"], f["server_recv"]}
				got, err := ParseSessionStatResponse(b)
				if err != nil || got != want {
					t.Fatalf("parse = %+v, %v; want %+v", got, err, want)
				}
				built = want.AppendTo(nil)
			default:
				t.Fatalf("no check for session vector %q", tc.Name)
			}
			if !bytes.Equal(built, b) {
				t.Fatalf("built %x, want %x", built, b)
			}
		})
	}
}

func codecElems(it interface{ Next() ([]byte, bool) }) []string {
	var out []string
	for e, ok := it.Next(); ok; e, ok = it.Next() {
		out = append(out, hex.EncodeToString(e))
	}
	return out
}

func TestCodecVectorsCombined(t *testing.T) {
	v := codecLoadVectors(t)
	cv := v.Combined
	var c Coder

	b := AppendCombinedHeader(nil)
	for _, s := range cv.Subpackets {
		b = AppendCombinedElement(b, codecHex(t, s))
	}
	if hex.EncodeToString(b) != cv.Combined {
		t.Fatalf("built %x, want %s", b, cv.Combined)
	}
	it := NewCombinedIter(codecHex(t, cv.Combined))
	if got := codecElems(&it); strings.Join(got, ",") != strings.Join(cv.ParsedBack, ",") || it.Err() != nil {
		t.Fatalf("parsed %v (err %v), want %v", got, it.Err(), cv.ParsedBack)
	}
	for _, w := range []struct {
		name   string
		passes [2]int
		wire   string
	}{{"nopasses", [2]int{}, cv.WireNoPasses}, {"compress", [2]int{1, 0}, cv.WireCompress}} {
		p := codecParams(t, 0x12345678, 2, w.passes, 0)
		if got := c.AppendEncode(&p, nil, b); hex.EncodeToString(got) != w.wire {
			t.Fatalf("%s: wire %x, want %s", w.name, got, w.wire)
		}
		if got, err := c.Decode(&p, codecHex(t, w.wire)); err != nil || !bytes.Equal(got, b) {
			t.Fatalf("%s: Decode = %x, %v", w.name, got, err)
		}
	}
	it = NewCombinedIter(codecHex(t, cv.Truncated.Packet))
	got := codecElems(&it)
	if strings.Join(got, ",") != strings.Join(cv.Truncated.Parsed, ",") {
		t.Fatalf("truncated example parsed %v, want %v", got, cv.Truncated.Parsed)
	}
	if !errors.Is(it.Err(), ErrElementOverrun) {
		t.Fatalf("truncated example: Err() = %v", it.Err())
	}
}

func TestCodecVectorsAppCombined(t *testing.T) {
	v := codecLoadVectors(t)
	for i, tc := range v.AppCombined {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			it := NewAppCombinedIter(codecHex(t, tc.Packet))
			got := codecElems(&it)
			if strings.Join(got, ",") != strings.Join(tc.Subpackets, ",") || it.Err() != nil {
				t.Fatalf("parsed %v (err %v), want %v", got, it.Err(), tc.Subpackets)
			}
			// Our builder uses the shortest prefixes; it must parse back.
			b := AppendAppCombinedHeader(nil)
			for _, s := range tc.Subpackets {
				b = AppendAppCombinedElement(b, codecHex(t, s))
			}
			it = NewAppCombinedIter(b)
			if again := codecElems(&it); strings.Join(again, ",") != strings.Join(tc.Subpackets, ",") {
				t.Fatalf("rebuilt %x parses to %v", b, again)
			}
		})
	}
}

func TestCodecVectorsFragments(t *testing.T) {
	v := codecLoadVectors(t)
	for _, tc := range v.Fragments {
		name := strconv.Itoa(tc.MaxPacketSize) + "_len" + strconv.Itoa(tc.AppLen) + "_s" + strconv.Itoa(tc.Stream)
		t.Run(name, func(t *testing.T) {
			p := codecParams(t, 0x12345678, tc.CRCBytes, [2]int{1, 0}, tc.MaxPacketSize)
			app := codecHex(t, tc.App)
			if len(app) != tc.AppLen || len(app) <= p.MaxUnfragmented() {
				t.Fatalf("app %d bytes, M_raw %d", len(app), p.MaxUnfragmented())
			}
			first, rest := p.FragmentSizes()
			if n := FragmentCount(len(app), first, rest); n != len(tc.Packets) {
				t.Fatalf("FragmentCount = %d, want %d", n, len(tc.Packets))
			}
			f := NewFragmenter(&p, app)
			seq := Seq(tc.FirstSeq)
			var re []byte
			var total uint32
			for i, want := range tc.Packets {
				if f.Done() {
					t.Fatalf("Done after %d fragments", i)
				}
				got := f.AppendNext(nil, tc.Stream, seq)
				if hex.EncodeToString(got) != want || len(got) != tc.PacketLengths[i] {
					t.Fatalf("fragment %d = %x, want %s", i, got, want)
				}
				base, stream, q, err := ParseSeq(got)
				if err != nil || base != OpFragment || stream != tc.Stream || q != seq {
					t.Fatalf("fragment %d: ParseSeq = %v %d %d %v", i, base, stream, q, err)
				}
				if i == 0 {
					var chunk []byte
					total, chunk, err = ParseFirstFragment(got)
					if err != nil {
						t.Fatal(err)
					}
					re = append(re, chunk...)
				} else {
					re = append(re, got[SeqHeaderLen:]...)
				}
				seq++
			}
			if !f.Done() {
				t.Fatal("Fragmenter not done after the last vector packet")
			}
			if bytes.Equal(re, app) != tc.Reassembled || int(total) != len(app) {
				t.Fatalf("reassembled %d bytes (total %d), want %d", len(re), total, len(app))
			}
		})
	}
}

func TestCodecVectorsAppFraming(t *testing.T) {
	v := codecLoadVectors(t)
	for _, tc := range v.AppFraming {
		t.Run(strconv.Itoa(tc.OpcodeSize)+"_"+strconv.Itoa(tc.Opcode), func(t *testing.T) {
			body := codecHex(t, tc.Data)
			var app []byte
			if tc.OpcodeSize == 1 {
				app = AppendApp1(nil, uint8(tc.Opcode), body)
				op, b, err := ParseApp1(app)
				if err != nil || int(op) != tc.Opcode || !bytes.Equal(b, body) {
					t.Fatalf("ParseApp1 = %#x %x %v", op, b, err)
				}
			} else {
				app = AppendApp(nil, uint16(tc.Opcode), body)
				op, b, err := ParseApp(app)
				if err != nil || int(op) != tc.Opcode || !bytes.Equal(b, body) {
					t.Fatalf("ParseApp = %#x %x %v", op, b, err)
				}
			}
			if hex.EncodeToString(app) != tc.AppBytes {
				t.Fatalf("app %x, want %s", app, tc.AppBytes)
			}
			esc := AppendEscaped(nil, app)
			if hex.EncodeToString(esc) != tc.AfterZeroEscape || EscapedLen(app) != len(esc) {
				t.Fatalf("escaped %x, want %s", esc, tc.AfterZeroEscape)
			}
			if tc.Unreliable != tc.AfterZeroEscape {
				t.Fatalf("vector: unreliable %s differs from the escaped form", tc.Unreliable)
			}
			if rel := AppendPacket(nil, 0, 0, esc); hex.EncodeToString(rel) != tc.ReliableDecoded {
				t.Fatalf("reliable %x, want %s", rel, tc.ReliableDecoded)
			}
			if got, ok := AppPayload(esc); !ok || !bytes.Equal(got, app) {
				t.Fatalf("AppPayload(%x) = %x, %v", esc, got, ok)
			}
		})
	}
}

func TestCodecVectorsSequenceCompare(t *testing.T) {
	v := codecLoadVectors(t)
	names := map[Order]string{Past: "past", Current: "current", Future: "future"}
	for _, tc := range v.SequenceCompare {
		if got := Compare(Seq(tc.Expected), Seq(tc.Actual)); names[got] != tc.Order {
			t.Errorf("Compare(%d, %d) = %s, want %s", tc.Expected, tc.Actual, names[got], tc.Order)
		}
	}
}
