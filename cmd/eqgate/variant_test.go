package main

import (
	"testing"
	"time"

	"github.com/eqgate/eqgate/proto"
)

// TestVariantFlagDefaults: -variant gives the protocol flags not given the
// variant's defaults, and leaves the ones given alone.
func TestVariantFlagDefaults(t *testing.T) {
	o, err := parseFlags([]string{"-variant", "eq2"})
	if err != nil {
		t.Fatal(err)
	}
	if o.cfg.Variant != proto.VariantEQ2 || o.cfg.StaleConnection != 45*time.Second || o.cfg.ResendDelayMin != 1500*time.Millisecond {
		t.Fatalf("eq2: variant %v stale %v resend min %v", o.cfg.Variant, o.cfg.StaleConnection, o.cfg.ResendDelayMin)
	}
	o, err = parseFlags([]string{"-stale-timeout", "45s", "-variant", "legacy", "-encode", "xor"})
	if err != nil {
		t.Fatal(err)
	}
	if o.cfg.Variant != proto.VariantLegacy || o.cfg.StaleConnection != 45*time.Second || o.cfg.ResendTimeout != 45*time.Second {
		t.Fatalf("legacy chat: stale %v resend timeout %v", o.cfg.StaleConnection, o.cfg.ResendTimeout)
	}
	if err := o.cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	// The chat service's own defaults (SPEC §21.5): 45 s, resends as long.
	o, err = parseFlags([]string{"-variant", "legacy", "-encode", "xor"})
	if err != nil {
		t.Fatal(err)
	}
	if o.cfg.StaleConnection != 45*time.Second || o.cfg.ResendTimeout != 45*time.Second {
		t.Fatalf("legacy chat defaults: stale %v resend timeout %v", o.cfg.StaleConnection, o.cfg.ResendTimeout)
	}
	for _, v := range []string{"legacy", "eq2"} {
		o, err := parseFlags([]string{"-variant", v})
		if err != nil {
			t.Fatal(err)
		}
		if err := o.cfg.Validate(); err != nil {
			t.Fatalf("-variant %s: %v", v, err)
		}
	}
	if _, err := parseFlags([]string{"-variant", "eq3"}); err == nil {
		t.Fatal("-variant eq3 accepted")
	}
}
