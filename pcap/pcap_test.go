package pcap

import (
	"bytes"
	"errors"
	"io"
	"net/netip"
	"testing"
	"time"
)

func TestRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1700000000, 123456000)
	recs := []Packet{
		{t0, netip.MustParseAddrPort("127.0.0.2:40000"), netip.MustParseAddrPort("127.0.0.1:9000"), []byte{0, 1, 2, 3}},
		{t0.Add(time.Millisecond), netip.MustParseAddrPort("[::1]:9000"), netip.MustParseAddrPort("[::1]:40001"), []byte("odd")},
		{t0.Add(2 * time.Millisecond), netip.MustParseAddrPort("[::ffff:10.0.0.1]:1"), netip.MustParseAddrPort("10.0.0.2:2"), nil},
	}
	for _, p := range recs {
		if err := w.WriteUDP(p.Time, p.Src, p.Dst, p.Payload); err != nil {
			t.Fatal(err)
		}
	}
	r, err := NewReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range recs {
		got, err := r.Next()
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if !got.Time.Equal(want.Time) || got.Src.Addr().Unmap() != want.Src.Addr().Unmap() || got.Src.Port() != want.Src.Port() ||
			got.Dst != want.Dst || !bytes.Equal(got.Payload, want.Payload) {
			t.Fatalf("record %d: got %+v, want %+v", i, got, want)
		}
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("after the last record: %v", err)
	}
}

// TestChecksums: the IPv4 header and UDP checksums verify (sum to 0xffff
// over the covered bytes), so Wireshark flags none.
func TestChecksums(t *testing.T) {
	var buf bytes.Buffer
	w, _ := NewWriter(&buf)
	src, dst := netip.MustParseAddrPort("127.0.0.2:4000"), netip.MustParseAddrPort("127.0.0.1:9000")
	payload := []byte{0, 9, 0, 1, 0x42}
	if err := w.WriteUDP(time.Unix(1, 0), src, dst, payload); err != nil {
		t.Fatal(err)
	}
	rec := buf.Bytes()[24+16:]
	if fold(sum(rec[:20], 0)) != 0xffff {
		t.Fatal("IPv4 header checksum does not verify")
	}
	udp := rec[20:]
	ph := sum(rec[12:20], 0) + 17 + uint32(len(udp))
	if fold(sum(udp, ph)) != 0xffff {
		t.Fatal("UDP checksum does not verify")
	}
}

func TestReaderErrors(t *testing.T) {
	if _, err := NewReader(bytes.NewReader([]byte("not a capture at all....."))); !errors.Is(err, ErrNotPcap) {
		t.Fatalf("garbage: %v", err)
	}
	var buf bytes.Buffer
	w, _ := NewWriter(&buf)
	_ = w.WriteUDP(time.Unix(1, 0), netip.MustParseAddrPort("1.2.3.4:5"), netip.MustParseAddrPort("5.6.7.8:9"), []byte("x"))
	b := buf.Bytes()
	r, _ := NewReader(bytes.NewReader(b[:len(b)-1]))
	if _, err := r.Next(); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("truncated: %v", err)
	}
}

func FuzzReader(f *testing.F) {
	var buf bytes.Buffer
	w, _ := NewWriter(&buf)
	_ = w.WriteUDP(time.Unix(1, 0), netip.MustParseAddrPort("1.2.3.4:5"), netip.MustParseAddrPort("5.6.7.8:9"), []byte("x"))
	_ = w.WriteUDP(time.Unix(1, 0), netip.MustParseAddrPort("[::1]:5"), netip.MustParseAddrPort("[::2]:9"), []byte("yy"))
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := NewReader(bytes.NewReader(b))
		if err != nil {
			return
		}
		for range 100 {
			p, err := r.Next()
			if err != nil {
				return
			}
			if len(p.Payload) > len(b) {
				t.Fatalf("payload %d bytes from a %d-byte file", len(p.Payload), len(b))
			}
		}
	})
}
