package eqgate

import "github.com/eqgate/eqgate/proto"

// Variant is the protocol family of a listener's or a dial's sessions
// (SPEC §1.1). The zero value is RS.
type Variant = proto.Variant

const (
	VariantRS     = proto.VariantRS     // EQEmu's reliable stream
	VariantLegacy = proto.VariantLegacy // EQEmu's EQStream, 2005-2016 (SPEC §21)
	VariantEQ2    = proto.VariantEQ2    // EverQuest II, EQ2EMu (SPEC §22)
)

// ParseVariant returns the Variant named rs, legacy or eq2.
func ParseVariant(s string) (Variant, bool) { return proto.ParseVariant(s) }
