package relay

import (
	"maps"
	"testing"

	"github.com/eqgate/eqgate"
)

// TestRelayVariants: the relay in front of an eqgate echo server of the
// same variant, both legs LEGACY (world/zone compressed, chat XOR, login
// plain) or EQ2 (each leg its own key exchange, RC4 and deflate state):
// messages of several sizes come back byte-exact and in order, and each
// reaches the backend as the client sent it (the echo would differ
// otherwise).
func TestRelayVariants(t *testing.T) {
	cases := []struct {
		name    string
		variant eqgate.Variant
		enc     eqgate.Encoding
	}{
		{"legacy_world", eqgate.VariantLegacy, eqgate.EncodeCompress},
		{"legacy_chat", eqgate.VariantLegacy, eqgate.EncodeXOR},
		{"legacy_login", eqgate.VariantLegacy, eqgate.EncodeNone},
		{"eq2", eqgate.VariantEQ2, eqgate.EncodeNone},
	}
	// LEGACY world, zone and login refuse 1-byte packets (SPEC §21.4).
	sizes := []int{2, 12, 200, 255, 256, 502, 503, 512, 1400, 4000, 16 << 10}
	if !raceEnabled {
		// Deflate runs ~10x slower under the race detector and LEGACY's
		// fixed 1500 ms resends of 64 KiB sets then outrun it on a loaded
		// box (as in the root TestVariantEcho).
		sizes = append(sizes, 64<<10)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(tc.enc)
			cfg.Variant = tc.variant
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			g := newRigConfig(t, cfg, cfg, Config{})
			g.be.mu.Lock()
			g.be.seen = map[string]int{}
			g.be.mu.Unlock()
			// The players send as given (no chat filler of eqgate's client), so
			// what the backend receives must be what they sent, byte for byte:
			// the relay's backend legs add no filler either.
			pc := eqgate.Config{Variant: tc.variant, Encoding: tc.enc, MaxQueuedBytes: 64 << 20, ChatNoFiller: true}
			echoThroughConfig(t, g.relay.Server().Addr().String(), 3, sizes, pc)
			// Short messages carry no session header, so compare multisets.
			want := map[string]int{}
			for i := range 3 {
				for k, n := range sizes {
					want[string(message(i, 0, k, n))]++
				}
			}
			g.be.mu.Lock()
			if !maps.Equal(g.be.seen, want) {
				t.Errorf("the backend received %d distinct messages, want the %d sent, each as often as sent (the EQ2 key packet ends at the relay)", len(g.be.seen), len(want))
			}
			g.be.mu.Unlock()
			st := g.relay.Stats()
			if want := uint64(3 * len(sizes)); st.MsgsToBackend != want || st.MsgsToClient != want {
				t.Errorf("relayed %d to the backend and %d back, want %d each", st.MsgsToBackend, st.MsgsToClient, want)
			}
			if st.LegsUp != 3 || st.DialFailures != 0 {
				t.Errorf("stats %+v: want 3 legs up, no dial failure", st)
			}
		})
	}
}
