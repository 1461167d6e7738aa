package eqgate

import (
	"bytes"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestVariantEcho: eqgate's client against eqgate's server on loopback for
// every variant and LEGACY service: messages from 2 B to 64 KiB come back
// exactly once, in order, byte-exact, and the metrics carry the variant.
func TestVariantEcho(t *testing.T) {
	defer checkLeaks(t)()
	cases := []struct {
		name    string
		variant Variant
		enc     Encoding
	}{
		{"rs", VariantRS, EncodeNone},
		{"legacy_world", VariantLegacy, EncodeCompress},
		{"legacy_chat", VariantLegacy, EncodeXOR},
		{"legacy_login", VariantLegacy, EncodeNone},
		{"eq2", VariantEQ2, EncodeNone},
	}
	sizes := []int{2, 12, 64, 200, 254, 255, 256, 502, 503, 505, 506, 507, 1400, 4000, 16 << 10, 64 << 10}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{Variant: tc.variant, Encoding: tc.enc, Shards: 2}
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
				t.Fatalf("got %d of %d echoes", col.total, col.want)
			}
			col.mu.Lock()
			for k, g := range col.got[0] {
				if !bytes.Equal(g, sent[k]) {
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
