package proto

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"unsafe"
)

// Fuzz targets for every decoder in the package. Seeds live in
// testdata/fuzz/FuzzX/ (taken from shared/protocol/captures); CI runs each
// target for a few seconds with `bash .ci/fuzz 5s`.

// codecFuzzParams are the parameter sets FuzzDecode tries on every input.
// The CRC-less ones let random input reach the passes; the others are the
// configurations of the captures and vectors.
func codecFuzzParams(t testing.TB) []Params {
	t.Helper()
	sets := []struct {
		key    uint32
		crc    int
		passes [2]Pass
	}{
		{0, 0, [2]Pass{PassCompress, PassXOR}},
		{0xffffffff, 0, [2]Pass{PassXOR, PassCompress}},
		{0x12345678, 0, [2]Pass{PassCompress, PassCompress}},
		{0xdeadbeef, 0, [2]Pass{PassXOR, PassXOR}},
		{0x12345678, 0, [2]Pass{PassCompress, PassNone}},
		{0xffffffff, 2, [2]Pass{PassNone, PassNone}},
		{0xffffffff, 2, [2]Pass{PassCompress, PassXOR}},
		{0x00000000, 2, [2]Pass{PassXOR, PassCompress}},
		{0x12345678, 4, [2]Pass{PassCompress, PassNone}},
	}
	ps := make([]Params, len(sets))
	for i, s := range sets {
		p, err := NewParams(s.key, s.crc, s.passes, DefaultMaxPacket)
		if err != nil {
			t.Fatal(err)
		}
		ps[i] = p
	}
	return ps
}

// codecWithin reports whether sub lies inside buf's bytes (a view, not a
// copy), so iterators are shown never to hand out bytes past the packet.
func codecWithin(buf, sub []byte) bool {
	if len(sub) == 0 {
		return true
	}
	if len(buf) == 0 {
		return false
	}
	b0 := uintptr(unsafe.Pointer(unsafe.SliceData(buf)))
	s0 := uintptr(unsafe.Pointer(unsafe.SliceData(sub)))
	return s0 >= b0 && s0+uintptr(len(sub)) <= b0+uintptr(len(buf))
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte{0x00, 0x15, 0x00, 0x05, 0x9d, 0x8c})
	params := codecFuzzParams(f)
	var c Coder
	f.Fuzz(func(t *testing.T, data []byte) {
		for i := range params {
			p := &params[i]
			d := bytes.Clone(data)
			pkt, err := c.Decode(p, d)
			if err != nil {
				var e *Error
				if !errors.As(err, &e) {
					t.Fatalf("params %d: error %v is not a *proto.Error", i, err)
				}
				if pkt != nil {
					t.Fatalf("params %d: error %v with a non-nil packet", i, err)
				}
				continue
			}
			if len(pkt) > len(d)+MaxInflate*2 {
				t.Fatalf("params %d: decoded %d bytes from %d", i, len(pkt), len(d))
			}
			// Exempt packets come back as they are.
			if Exempt(data) && !bytes.Equal(pkt, data) {
				t.Fatalf("params %d: exempt datagram changed", i)
			}
			// The first byte is never encoded, so the form is preserved.
			if pkt[0] != data[0] {
				t.Fatalf("params %d: first byte %02x, want %02x", i, pkt[0], data[0])
			}
			if !codecRoundTrips(p, pkt) {
				continue
			}
			keep := bytes.Clone(pkt)
			wire := c.AppendEncode(p, nil, keep)
			back, err := c.Decode(p, wire)
			if err != nil {
				t.Fatalf("params %d: re-encoded %x does not decode: %v", i, keep, err)
			}
			if !bytes.Equal(back, keep) {
				t.Fatalf("params %d: round trip\n got %x\nwant %x", i, back, keep)
			}
		}
	})
}

// codecRoundTrips reports whether decode(encode(pkt)) must equal pkt. Two
// decoded forms cannot survive a re-encode: packets under 2 bytes are sent
// raw (SPEC §7.4), and with compression on an empty region becomes a lone
// flag byte, which a receiver leaves in place (SPEC §8.2). And a region
// near MaxInflate can grow past the inflate cap by a flag byte when both
// passes compress.
func codecRoundTrips(p *Params, pkt []byte) bool {
	if len(pkt) < 2 {
		return false
	}
	if !p.Compressing() {
		return true
	}
	n := len(pkt) - regionOffset(pkt)
	return n > 0 && n <= MaxInflate-2
}

// codecSlowCombined is a direct transcription of SPEC §14.2's parse, with
// zero-length elements skipped.
func codecSlowCombined(p []byte) (elems [][]byte, truncated bool) {
	pos := 2
	for pos < len(p) {
		l := int(p[pos])
		pos++
		if pos+l > len(p) {
			return elems, true
		}
		if l > 0 {
			elems = append(elems, p[pos:pos+l])
		}
		pos += l
	}
	return elems, false
}

func FuzzCombined(f *testing.F) {
	f.Add([]byte{0x00, 0x03, 0x04, 0x00, 0x15, 0x00, 0x05, 0x02, 0x47, 0x02})
	f.Fuzz(func(t *testing.T, data []byte) {
		var got [][]byte
		it := NewCombinedIter(data)
		for e, ok := it.Next(); ok; e, ok = it.Next() {
			if len(e) == 0 || len(e) > MaxElement || !codecWithin(data, e) {
				t.Fatalf("element %d: len %d, within %v", len(got), len(e), codecWithin(data, e))
			}
			got = append(got, e)
		}
		if _, ok := it.Next(); ok {
			t.Fatal("Next after the end returned an element")
		}
		want, truncated := codecSlowCombined(data)
		if (it.Err() != nil) != truncated {
			t.Fatalf("Err() = %v, reference truncated = %v", it.Err(), truncated)
		}
		if it.Err() != nil && !errors.Is(it.Err(), ErrElementOverrun) {
			t.Fatalf("Err() = %v", it.Err())
		}
		if !codecEqualElems(got, want) {
			t.Fatalf("elements %x, reference %x", got, want)
		}
		// Rebuild from the elements and parse again.
		b := AppendCombinedHeader(nil)
		for _, e := range got {
			b = AppendCombinedElement(b, e)
		}
		it2 := NewCombinedIter(b)
		var again [][]byte
		for e, ok := it2.Next(); ok; e, ok = it2.Next() {
			again = append(again, e)
		}
		if it2.Err() != nil || !codecEqualElems(again, got) {
			t.Fatalf("rebuilt %x parses to %x (err %v), want %x", b, again, it2.Err(), got)
		}
		// A well-formed packet with no empty elements rebuilds byte for byte.
		if len(data) >= 2 && it.Err() == nil && len(b)-2 == len(data)-2 &&
			!bytes.Equal(b[2:], data[2:]) {
			t.Fatalf("rebuilt %x from %x", b, data)
		}
	})
}

// codecSlowAppCombined is SPEC §14.4's parse with the recommended overrun
// stop, written independently of AppCombinedIter.
func codecSlowAppCombined(p []byte) (elems [][]byte, truncated bool) {
	pos := 2
	for pos < len(p) {
		var l uint64
		switch {
		case p[pos] != 0xff:
			l = uint64(p[pos])
			pos++
		case len(p)-pos >= 3 && p[pos+1] == 0xff && p[pos+2] == 0xff:
			if len(p)-pos < 7 {
				return elems, true
			}
			l = uint64(binary.BigEndian.Uint32(p[pos+3:]))
			pos += 7
		case len(p)-pos >= 3:
			l = uint64(binary.BigEndian.Uint16(p[pos+1:]))
			pos += 3
		default:
			return elems, true
		}
		if l > uint64(len(p)-pos) {
			return elems, true
		}
		if l > 0 {
			elems = append(elems, p[pos:pos+int(l)])
		}
		pos += int(l)
	}
	return elems, false
}

func FuzzAppCombined(f *testing.F) {
	f.Add([]byte{0x00, 0x19, 0xff, 0x00, 0x02, 0xaa, 0xbb, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x03, 0xcc, 0xdd, 0xee})
	f.Fuzz(func(t *testing.T, data []byte) {
		var got [][]byte
		it := NewAppCombinedIter(data)
		for e, ok := it.Next(); ok; e, ok = it.Next() {
			if len(e) == 0 || !codecWithin(data, e) {
				t.Fatalf("element %d: len %d, within %v", len(got), len(e), codecWithin(data, e))
			}
			got = append(got, e)
		}
		if _, ok := it.Next(); ok {
			t.Fatal("Next after the end returned an element")
		}
		want, truncated := codecSlowAppCombined(data)
		if (it.Err() != nil) != truncated {
			t.Fatalf("Err() = %v, reference truncated = %v", it.Err(), truncated)
		}
		if !codecEqualElems(got, want) {
			t.Fatalf("elements %x, reference %x", got, want)
		}
		b := AppendAppCombinedHeader(nil)
		for _, e := range got {
			b = AppendAppCombinedElement(b, e)
		}
		it2 := NewAppCombinedIter(b)
		var again [][]byte
		for e, ok := it2.Next(); ok; e, ok = it2.Next() {
			again = append(again, e)
		}
		if it2.Err() != nil || !codecEqualElems(again, got) {
			t.Fatalf("rebuilt %x parses to %x (err %v), want %x", b, again, it2.Err(), got)
		}
	})
}

func codecEqualElems(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// FuzzFragments takes its parameters from the first 3 bytes of the input:
// crc bytes and stream from byte 0, max_packet_size from bytes 1-2 (mapped
// into the range NewParams accepts); the rest is the inner packet. The input
// is also parsed as a first fragment.
func FuzzFragments(f *testing.F) {
	f.Add([]byte{0x00, 0x00, 0x20, 0x41, 0x0a, 0x11})
	f.Fuzz(func(t *testing.T, data []byte) {
		if total, chunk, err := ParseFirstFragment(data); err != nil {
			if total != 0 || chunk != nil || !errors.Is(err, ErrShortFragment) || len(data) >= FirstFragmentHeaderLen {
				t.Fatalf("ParseFirstFragment(%x) = %d, %x, %v", data, total, chunk, err)
			}
		} else if total != binary.BigEndian.Uint32(data[4:]) || !codecWithin(data, chunk) ||
			len(chunk) != len(data)-FirstFragmentHeaderLen {
			t.Fatalf("ParseFirstFragment(%x) = %d, %x", data, total, chunk)
		}
		if len(data) < 3 {
			return
		}
		crc := [3]int{0, 2, 4}[int(data[0]&3)%3]
		stream := int(data[0]>>2) & (Streams - 1)
		maxPacket := MinMaxPacket + int(binary.BigEndian.Uint16(data[1:]))%(2048-MinMaxPacket)
		p, err := NewParams(0x12345678, crc, [2]Pass{PassCompress, PassNone}, maxPacket)
		if err != nil {
			t.Fatal(err)
		}
		app := data[3:]
		if len(app) == 0 {
			return
		}
		first, rest := p.FragmentSizes()
		fr := NewFragmenter(&p, app)
		var re []byte
		var total uint32
		seq := Seq(0xfff0) // cross the wrap
		n := 0
		for ; !fr.Done(); n++ {
			pkt := fr.AppendNext(nil, stream, seq)
			base, s, q, err := ParseSeq(pkt)
			if err != nil || base != OpFragment || s != stream || q != seq {
				t.Fatalf("fragment %d: ParseSeq = %v %d %d %v", n, base, s, q, err)
			}
			// Every fragment fits the datagram with its flag byte and CRC.
			if len(pkt)+1+crc > maxPacket {
				t.Fatalf("fragment %d: %d decoded bytes over max %d", n, len(pkt), maxPacket)
			}
			if n == 0 {
				tot, chunk, err := ParseFirstFragment(pkt)
				if err != nil || int(tot) != len(app) || len(chunk) != min(first, len(app)) {
					t.Fatalf("first fragment: total %d chunk %d err %v", tot, len(chunk), err)
				}
				total = tot
				re = append(re, chunk...)
			} else {
				if len(pkt)-SeqHeaderLen > rest || len(pkt) == SeqHeaderLen {
					t.Fatalf("fragment %d carries %d bytes, max %d", n, len(pkt)-SeqHeaderLen, rest)
				}
				re = append(re, pkt[SeqHeaderLen:]...)
			}
			seq++
		}
		if !bytes.Equal(re, app) || int(total) != len(re) {
			t.Fatalf("reassembled %d bytes (total %d), want %d", len(re), total, len(app))
		}
		if want := FragmentCount(len(app), first, rest); n != want {
			t.Fatalf("%d fragments, FragmentCount = %d", n, want)
		}
	})
}

func FuzzInflate(f *testing.F) {
	f.Add([]byte{0x78, 0x01, 0x73, 0x74, 0xc4, 0x0b, 0x00, 0x7e, 0x0f, 0x07, 0xe0})
	var c Coder
	f.Fuzz(func(t *testing.T, data []byte) {
		prefix := []byte{1, 2, 3}
		out, err := c.Inflate(bytes.Clone(prefix), data)
		if !bytes.Equal(out[:len(prefix)], prefix) {
			t.Fatal("Inflate changed dst's existing bytes")
		}
		if err != nil {
			if len(out) != len(prefix) {
				t.Fatalf("error %v with %d bytes appended", err, len(out)-len(prefix))
			}
			if ReasonOf(err) != ReasonInflate {
				t.Fatalf("error %v has reason %v", err, ReasonOf(err))
			}
		} else if len(out)-len(prefix) > MaxInflate {
			t.Fatalf("inflated %d bytes, cap %d", len(out)-len(prefix), MaxInflate)
		}
		// Reference: the standard library's zlib, limited the same way.
		ref, refOK := codecSlowInflate(data)
		if refOK != (err == nil) {
			t.Fatalf("Inflate err %v, reference ok %v", err, refOK)
		}
		if refOK && !bytes.Equal(out[len(prefix):], ref) {
			t.Fatalf("Inflate = %x, reference %x", out[len(prefix):], ref)
		}
	})
}

// codecSlowInflate inflates with compress/zlib (not klauspost), capped at
// MaxInflate, rejecting preset dictionaries as RS does.
func codecSlowInflate(data []byte) ([]byte, bool) {
	if len(data) >= 2 && data[1]&0x20 != 0 {
		return nil, false
	}
	zr, err := zlib.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, false
	}
	out, err := io.ReadAll(io.LimitReader(zr, MaxInflate+1))
	if err != nil || len(out) > MaxInflate {
		return nil, false
	}
	// ReadAll stops at EOF, which zlib reports only after the checksum.
	return out, true
}

func FuzzSessionPackets(f *testing.F) {
	f.Add([]byte{0x00, 0x01, 0x00, 0x00, 0x00, 0x03, 0x12, 0x34, 0x56, 0x78, 0x00, 0x00, 0x02, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		codecCheckParse(t, "SessionRequest", data, SessionRequestLen, OpSessionRequest,
			func(b []byte) (any, []byte, error) {
				r, err := ParseSessionRequest(b)
				return r, r.AppendTo(nil), err
			}, SessionRequest{})
		codecCheckParse(t, "SessionResponse", data, SessionResponseLen, OpSessionResponse,
			func(b []byte) (any, []byte, error) {
				r, err := ParseSessionResponse(b)
				return r, r.AppendTo(nil), err
			}, SessionResponse{})
		codecCheckParse(t, "SessionStatRequest", data, SessionStatLen, OpSessionStatRequest,
			func(b []byte) (any, []byte, error) {
				r, err := ParseSessionStatRequest(b)
				return r, r.AppendTo(nil), err
			}, SessionStatRequest{})
		codecCheckParse(t, "SessionStatResponse", data, SessionStatLen, OpSessionStatReply,
			func(b []byte) (any, []byte, error) {
				r, err := ParseSessionStatResponse(b)
				return r, r.AppendTo(nil), err
			}, SessionStatResponse{})

		// The legacy 21-byte form of a parsed response reads back the same,
		// up to the pass flags it folds into one byte.
		if r, err := ParseSessionResponse(data); err == nil {
			leg := r.AppendLegacyTo(nil)
			r2, err := ParseSessionResponse(leg)
			if err != nil || len(leg) != LegacySessionResponseLen || r2.ConnectCode != r.ConnectCode ||
				r2.Key != r.Key || r2.CRCBytes != r.CRCBytes || r2.MaxPacketSize != r.MaxPacketSize ||
				r2.Passes != [2]Pass{r.Passes[0] | r.Passes[1], 0} {
				t.Fatalf("legacy form %x parses to %+v (%v), from %+v", leg, r2, err, r)
			}
		}

		base, stream, seq, err := ParseSeq(data)
		if err != nil {
			if base != 0 || stream != 0 || seq != 0 {
				t.Fatalf("ParseSeq error %v with non-zero results", err)
			}
		} else {
			var b []byte
			switch base {
			case OpPacket:
				b = AppendPacket(nil, stream, seq, data[SeqHeaderLen:])
			case OpFragment:
				b = AppendFragment(nil, stream, seq, data[SeqHeaderLen:])
			case OpAck:
				b = append(AppendAck(nil, stream, seq), data[SeqHeaderLen:]...)
			case OpOutOfOrderAck:
				b = append(AppendOutOfOrderAck(nil, stream, seq), data[SeqHeaderLen:]...)
			default:
				t.Fatalf("ParseSeq returned base %v", base)
			}
			if !bytes.Equal(b, data) {
				t.Fatalf("ParseSeq(%x) rebuilt as %x", data, b)
			}
		}

		if op, body, err := ParseApp(data); err == nil {
			if !bytes.Equal(AppendApp(nil, op, body), data) {
				t.Fatalf("ParseApp(%x) rebuilt differently", data)
			}
		} else if len(data) >= 2 {
			t.Fatalf("ParseApp(%x): %v", data, err)
		}
		if app, ok := AppPayload(data); ok {
			if !bytes.Equal(AppendEscaped(nil, app), data) || EscapedLen(app) != len(data) {
				t.Fatalf("AppPayload(%x) = %x does not escape back", data, app)
			}
		}
		esc := AppendEscaped(nil, data)
		if len(data) > 0 {
			if app, ok := AppPayload(esc); !ok || !bytes.Equal(app, data) {
				t.Fatalf("AppPayload(AppendEscaped(%x)) = %x, %v", data, app, ok)
			}
		}
	})
}

// codecCheckParse checks one session-packet parser on data: an error leaves
// the zero value and happens exactly when data is short or of another
// opcode; success re-encodes to data's first size bytes.
func codecCheckParse(t *testing.T, name string, data []byte, size int, op Opcode,
	parse func([]byte) (any, []byte, error), zero any) {
	t.Helper()
	v, enc, err := parse(data)
	valid := len(data) >= size && data[0] == 0 && Opcode(data[1]) == op
	if err != nil {
		if valid {
			t.Fatalf("%s(%x): %v", name, data, err)
		}
		if v != zero {
			t.Fatalf("%s(%x): error %v with %+v", name, data, err, v)
		}
		if len(data) < size && ReasonOf(err) != ReasonShort {
			t.Fatalf("%s(%x): short input gave %v", name, data, err)
		}
		return
	}
	if !valid {
		t.Fatalf("%s(%x) accepted", name, data)
	}
	if !bytes.Equal(enc, data[:size]) {
		t.Fatalf("%s(%x) re-encodes as %x", name, data, enc)
	}
}
