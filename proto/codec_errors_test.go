package proto

import (
	"bytes"
	"compress/zlib"
	"errors"
	"testing"
)

// Bad input gets a typed error naming what was wrong, never a panic.
func TestCodecDecodeErrors(t *testing.T) {
	crc2 := codecParams(t, 0x12345678, 2, [2]int{}, 0)
	crc4 := codecParams(t, 0x12345678, 4, [2]int{}, 0)
	comp := codecParams(t, 0x12345678, 0, [2]int{1, 0}, 0)
	handBuilt := crc2
	handBuilt.CRCBytes = -3

	bomb := func(n int) []byte {
		var b bytes.Buffer
		w := zlib.NewWriter(&b)
		w.Write(make([]byte, n))
		w.Close()
		return append([]byte{0x00, 0x09, 0x5a}, b.Bytes()...)
	}
	fdict := append([]byte{0x00, 0x09, 0x5a, 0x78, 0xbb}, 0, 0, 0, 1, 3, 0)

	cases := []struct {
		name   string
		p      *Params
		d      []byte
		want   error
		reason Reason
	}{
		{"empty", &crc2, nil, ErrShortDatagram, ReasonShort},
		{"one_byte", &crc2, []byte{0x00}, ErrShortDatagram, ReasonShort},
		{"only_trailer", &crc2, []byte{0x47, 0x02}, ErrShortCRC, ReasonShort},
		{"shorter_than_crc4", &crc4, []byte{0x00, 0x15, 0x00}, ErrShortCRC, ReasonShort},
		{"bad_crc2", &crc2, []byte{0x00, 0x15, 0x00, 0x05, 0x9d, 0x8d}, ErrBadCRC, ReasonBadCRC},
		{"bad_crc4", &crc4, []byte{0x00, 0x15, 0x00, 0x05, 0xb5, 0xde, 0x9d, 0x8d}, ErrBadCRC, ReasonBadCRC},
		{"keepalive", &crc2, []byte{0x00, 0x06}, ErrKeepAlive, ReasonIgnored},
		{"ping", &crc2, []byte{0x00, 0x1c, 0x00, 0x00}, ErrOutboundPing, ReasonIgnored},
		{"protocol_packet_of_one_byte", &comp, []byte{0x00}, ErrShortDatagram, ReasonShort},
		{"inflate_over_cap", &comp, bomb(MaxInflate + 1), ErrInflateTooBig, ReasonInflate},
		{"inflate_bomb", &comp, bomb(1 << 20), ErrInflateTooBig, ReasonInflate},
		{"inflate_garbage", &comp, []byte{0x00, 0x09, 0x5a, 0x12, 0x34}, ErrInflate, ReasonInflate},
		{"inflate_truncated", &comp, bomb(100)[:8], ErrInflate, ReasonInflate},
		{"inflate_preset_dictionary", &comp, fdict, ErrInflate, ReasonInflate},
		{"hand_built_params", &handBuilt, []byte{0x00, 0x15, 0x00, 0x05}, ErrBadCRCBytes, ReasonBadParams},
	}
	var c Coder
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := c.Decode(tc.p, tc.d)
			if !errors.Is(err, tc.want) || ReasonOf(err) != tc.reason || got != nil {
				t.Fatalf("Decode = %x, %v (reason %v); want %v (%v)", got, err, ReasonOf(err), tc.want, tc.reason)
			}
			var e *Error
			if !errors.As(err, &e) || e.Error() == "" {
				t.Fatalf("%v is not a *proto.Error", err)
			}
		})
	}
	// Exactly MaxInflate bytes is allowed.
	got, err := c.Decode(&comp, bomb(MaxInflate))
	if err != nil || len(got) != 2+MaxInflate {
		t.Fatalf("Decode of a %d-byte stream: %d bytes, %v", MaxInflate, len(got), err)
	}
	// A protocol packet whose CRC leaves only its first byte.
	p := codecParams(t, 0x12345678, 2, [2]int{}, 0)
	d := appendCRC([]byte{0x00}, CRC(0x12345678, []byte{0x00}), 2)
	if _, err := c.Decode(&p, d); !errors.Is(err, ErrShortPacket) {
		t.Fatalf("1-byte protocol packet: %v", err)
	}
	// A 1-byte raw application packet is fine.
	d = appendCRC([]byte{0x47}, CRC(0x12345678, []byte{0x47}), 2)
	if got, err := c.Decode(&p, d); err != nil || !bytes.Equal(got, []byte{0x47}) {
		t.Fatalf("1-byte raw packet: %x, %v", got, err)
	}
}

func TestCodecNewParams(t *testing.T) {
	cases := []struct {
		name      string
		crc       int
		passes    [2]Pass
		maxPacket int
		want      error
		wantMax   int
		wantPass  [2]Pass
	}{
		{"defaults", 2, [2]Pass{PassCompress, PassNone}, 0, nil, DefaultMaxPacket, [2]Pass{PassCompress, PassNone}},
		{"crc4_xor", 4, [2]Pass{PassXOR, PassCompress}, 1024, nil, 1024, [2]Pass{PassXOR, PassCompress}},
		{"unknown_pass_is_none", 0, [2]Pass{7, 2}, 512, nil, 512, [2]Pass{PassNone, PassNone}},
		{"smallest", 2, [2]Pass{}, MinMaxPacket, nil, MinMaxPacket, [2]Pass{}},
		{"largest", 2, [2]Pass{}, MaxDatagram, nil, MaxDatagram, [2]Pass{}},
		{"crc3", 3, [2]Pass{}, 512, ErrBadCRCBytes, 0, [2]Pass{}},
		{"crc_negative", -2, [2]Pass{}, 512, ErrBadCRCBytes, 0, [2]Pass{}},
		{"max_too_small", 2, [2]Pass{}, MinMaxPacket - 1, ErrBadMaxPacket, 0, [2]Pass{}},
		{"max_one", 2, [2]Pass{}, 1, ErrBadMaxPacket, 0, [2]Pass{}},
		{"max_too_big", 2, [2]Pass{}, MaxDatagram + 1, ErrBadMaxPacket, 0, [2]Pass{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := NewParams(0xdeadbeef, tc.crc, tc.passes, tc.maxPacket)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			if err != nil {
				if p != (Params{}) || ReasonOf(err) != ReasonBadParams {
					t.Fatalf("error %v with %+v", err, p)
				}
				return
			}
			if p.MaxPacket != tc.wantMax || p.Passes != tc.wantPass || p.CRCBytes != tc.crc {
				t.Fatalf("got %+v", p)
			}
			first, rest := p.FragmentSizes()
			if first < 1 || rest < 1 || rest != p.MaxUnfragmented() || first != rest-4 {
				t.Fatalf("fragment sizes %d, %d; M_raw %d", first, rest, p.MaxUnfragmented())
			}
			if p.MaxUnreliable() != MaxElement-tc.crc {
				t.Fatalf("MaxUnreliable %d", p.MaxUnreliable())
			}
		})
	}
	p, _ := NewParams(1, 2, [2]Pass{}, 0)
	p.SetKey(0x12345678)
	if codecCRCWithParams(&p, []byte{0x00, 0x15, 0x00, 0x05}) != 0xb5de9d8c {
		t.Fatal("SetKey did not recompute the CRC seed")
	}
}

func TestCodecOpcodes(t *testing.T) {
	for op := 0; op < 256; op++ {
		base, stream, ok := Opcode(op).Base()
		switch {
		case op >= 0x09 && op <= 0x18:
			if !ok || int(base)+stream != op || stream < 0 || stream >= Streams {
				t.Errorf("%#x: Base = %v %d %v", op, base, stream, ok)
			}
		default:
			if ok || base != Opcode(op) || stream != 0 {
				t.Errorf("%#x: Base = %v %d %v", op, base, stream, ok)
			}
		}
		if s := Opcode(op).String(); s == "" || (op > 0x1d) != (s == "Unknown") {
			t.Errorf("%#x: String %q", op, s)
		}
		exempt := op == 0x01 || op == 0x02 || op == 0x1d
		if Exempt([]byte{0x00, byte(op)}) != exempt || Exempt([]byte{0x01, byte(op)}) {
			t.Errorf("%#x: Exempt wrong", op)
		}
	}
	if !Exempt(nil) || !Exempt([]byte{0x47}) {
		t.Error("packets under 2 bytes carry no CRC")
	}
	for r := Reason(0); r <= NumReasons; r++ {
		if s := r.String(); s == "" || (r == NumReasons) != (s == "unknown") {
			t.Errorf("Reason(%d).String() = %q", r, s)
		}
	}
}

func TestCodecAppendCombinedElementTooLong(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic for a 256-byte element")
		}
	}()
	AppendCombinedElement(nil, make([]byte, MaxElement+1))
}

// TestCodecAppCombinedPrefixes checks the shortest-prefix rule of SPEC §14.4
// at each boundary and that every form parses back.
func TestCodecAppCombinedPrefixes(t *testing.T) {
	cases := []struct {
		n      int
		prefix []byte
	}{
		{1, []byte{0x01}},
		{254, []byte{0xfe}},
		{255, []byte{0xff, 0x00, 0xff}},
		{256, []byte{0xff, 0x01, 0x00}},
		{65534, []byte{0xff, 0xff, 0xfe}},
		{65535, []byte{0xff, 0xff, 0xff, 0x00, 0x00, 0xff, 0xff}},
		{70000, []byte{0xff, 0xff, 0xff, 0x00, 0x01, 0x11, 0x70}},
	}
	for _, tc := range cases {
		elem := bytes.Repeat([]byte{0x47}, tc.n)
		b := AppendAppCombinedElement(AppendAppCombinedHeader(nil), elem)
		if !bytes.Equal(b[2:2+len(tc.prefix)], tc.prefix) || len(b) != 2+len(tc.prefix)+tc.n {
			t.Errorf("n=%d: prefix %x, want %x", tc.n, b[2:min(len(b), 9)], tc.prefix)
			continue
		}
		it := NewAppCombinedIter(b)
		e, ok := it.Next()
		if !ok || !bytes.Equal(e, elem) {
			t.Errorf("n=%d: parsed %d bytes, %v", tc.n, len(e), ok)
		}
		if _, ok := it.Next(); ok || it.Err() != nil {
			t.Errorf("n=%d: trailing element or error %v", tc.n, it.Err())
		}
		// One byte short: the element overruns and the walk stops.
		it = NewAppCombinedIter(b[:len(b)-1])
		if _, ok := it.Next(); ok || !errors.Is(it.Err(), ErrElementOverrun) {
			t.Errorf("n=%d: truncated packet: %v", tc.n, it.Err())
		}
	}
	for _, p := range []Pass{PassNone, PassCompress, PassXOR, 9} {
		if p.String() == "" || (p == 9) != (p.String() == "unknown") {
			t.Errorf("Pass(%d).String() = %q", p, p.String())
		}
	}
}
