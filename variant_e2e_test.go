package eqgate

import (
	"bytes"
	"net"
	"testing"
	"time"

	"github.com/eqgate/eqgate/proto"
	"github.com/prometheus/client_golang/prometheus"
)

// TestVariantEcho: eqgate's client against eqgate's server on loopback for
// every variant and LEGACY service: messages from 2 B to 64 KiB come back
// exactly once, in order, byte-exact, and the metrics carry the variant.
// On LEGACY chat the client puts its filler byte after the opcode (SPEC
// §21.4 (b)) and eqgate's server delivers it, so the echo carries it too,
// unless ChatNoFiller.
func TestVariantEcho(t *testing.T) {
	defer checkLeaks(t)()
	cases := []struct {
		name    string
		variant Variant
		enc     Encoding
		raw     bool // ChatNoFiller
	}{
		{"rs", VariantRS, EncodeNone, false},
		{"legacy_world", VariantLegacy, EncodeCompress, false},
		{"legacy_chat", VariantLegacy, EncodeXOR, false},
		{"legacy_chat_raw", VariantLegacy, EncodeXOR, true},
		{"legacy_login", VariantLegacy, EncodeNone, false},
		{"eq2", VariantEQ2, EncodeNone, false},
	}
	sizes := []int{2, 12, 64, 200, 254, 255, 256, 502, 503, 505, 506, 507, 1400, 4000, 16 << 10, 64 << 10}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{Variant: tc.variant, Encoding: tc.enc, Shards: 2, ChatNoFiller: tc.raw}
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			srv, err := Listen("127.0.0.1:0", cfg, &echoHandler{})
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			var sent [][]byte
			for k := range 3 {
				for _, n := range sizes {
					if raceEnabled && tc.enc == EncodeCompress && n > 16<<10 {
						// Deflate runs ~10x slower under the race detector;
						// LEGACY's fixed 1500 ms resends of 64 KiB sets then
						// outrun it on a loaded 2-core box.
						continue
					}
					sent = append(sent, payload(0, 0, k*len(sizes)+len(sent), n))
				}
			}
			col := &collector{want: len(sent), done: make(chan struct{})}
			conn, err := Dial(srv.Addr().String(), cfg, col)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range sent {
				if err := conn.Send(0, m, true); err != nil {
					t.Fatal(err)
				}
			}
			select {
			case <-col.done:
			case <-time.After(20 * time.Second): // a bound, not a synchronisation
				col.mu.Lock()
				n := col.total
				col.mu.Unlock()
				st, cs := srv.Stats().Total, conn.Stats().Total
				t.Fatalf("got %d of %d echoes; server in %d out %d resends %d; client in %d out %d resends %d",
					n, col.want, st.DatagramsIn, st.DatagramsOut, st.Resends, cs.DatagramsIn, cs.DatagramsOut, cs.Resends)
			}
			col.mu.Lock()
			for k, g := range col.got[0] {
				want := sent[k]
				if tc.enc == EncodeXOR && !tc.raw {
					want = append([]byte{want[0], 0}, want[1:]...)
				}
				if !bytes.Equal(g, want) {
					t.Fatalf("message %d: echo differs (len %d, want %d)", k, len(g), len(sent[k]))
				}
			}
			col.mu.Unlock()
			if err := conn.Close(); err != nil {
				t.Error(err)
			}
			reg := prometheus.NewPedanticRegistry()
			reg.MustRegister(srv.Collector())
			mfs, err := reg.Gather()
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, mf := range mfs {
				for _, m := range mf.GetMetric() {
					for _, l := range m.GetLabel() {
						if l.GetName() == "variant" {
							found = true
							if l.GetValue() != tc.variant.String() {
								t.Fatalf("%s: variant=%q", mf.GetName(), l.GetValue())
							}
						}
					}
				}
			}
			if !found {
				t.Fatal("no variant label")
			}
			checkOutcomes(t, srv)
		})
	}
}

// TestVariantConfigValidate: Validate names the field a variant cannot run
// with, before Listen.
func TestVariantConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg   Config
		field string
	}{
		{Config{Variant: VariantEQ2, Encoding: EncodeXOR}, "Encoding"},
		{Config{Variant: VariantLegacy, Encoding: EncodeCompressXOR}, "Encoding"},
		{Config{Variant: VariantLegacy, CRCBytes: 4}, "CRCBytes"},
		{Config{Variant: VariantEQ2, MaxUnackedPackets: 2048}, "MaxUnackedPackets"},
		{Config{Variant: VariantLegacy, ReorderWindow: 2048}, "ReorderWindow"},
		{Config{Variant: Variant(9)}, "Variant"},
	} {
		err := tc.cfg.Validate()
		ce, ok := err.(*ConfigError)
		if !ok || ce.Fields[0] != tc.field {
			t.Fatalf("%+v: %v, want a ConfigError on %s", tc.cfg, err, tc.field)
		}
	}
	for _, v := range []Variant{VariantRS, VariantLegacy, VariantEQ2} {
		if err := (Config{Variant: v}).Validate(); err != nil {
			t.Fatalf("%v defaults: %v", v, err)
		}
	}
}

// TestEQ2RequestReplacesE2E: on loopback, an EQ2 client that restarts on
// the same port (a SessionRequest with a new connect code) gets a response
// for the new code, and the server closes the old session with
// CloseReplaced (SPEC §22.1), counted in eqgate_sessions_closed_total.
func TestEQ2RequestReplacesE2E(t *testing.T) {
	defer checkLeaks(t)()
	h := &echoHandler{}
	srv, err := Listen("127.0.0.1:0", Config{Variant: VariantEQ2, Shards: 1, MaxSessionsPerIP: 1}, h)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	conn, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(srv.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	buf := make([]byte, 2048)
	for _, code := range []uint32{1, 2} {
		if _, err := conn.Write(proto.SessionRequest{ConnectCode: code, MaxPacketSize: 512}.AppendTo(nil)); err != nil {
			t.Fatal(err)
		}
		if err := conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil { // a bound
			t.Fatal(err)
		}
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("code %d: no response: %v", code, err)
		}
		r, err := proto.ParseSessionResponse(buf[:n])
		if err != nil || r.ConnectCode != code || r.Key != proto.EQ2Key {
			t.Fatalf("code %d: answer %x (%v)", code, buf[:n], err)
		}
	}
	h.mu.Lock()
	opened, replaced := h.opened, h.closed[CloseReplaced]
	h.mu.Unlock()
	if opened != 2 || replaced != 1 {
		t.Fatalf("opened %d, closed as replaced %d", opened, replaced)
	}
	if got := srv.Stats().Total.SessionsClosed["replaced"]; got != 1 {
		t.Fatalf("SessionsClosed[replaced] = %d", got)
	}
	checkOutcomes(t, srv)
}
