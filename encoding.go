package eqgate

import (
	"errors"

	"github.com/eqgate/eqgate/proto"
)

// Encoding is the pair of encode passes a server offers in its
// SessionResponse and the peer then applies to every packet (SPEC §8.1):
// encode_pass1 then encode_pass2 on send, reversed on receive. The zero
// value, EncodeNone, is RS's default; EQEmu zones offer EncodeCompress.
// XOR is obfuscation, not security.
type Encoding uint8

const (
	EncodeNone        Encoding = iota // [none, none]
	EncodeXOR                         // [xor, none]
	EncodeCompress                    // [compress, none]
	EncodeCompressXOR                 // [compress, xor]
	EncodeXORCompress                 // [xor, compress]
	numEncodings
)

// encodings maps each Encoding to its name (String, ParseEncoding, the
// -encode flag) and the wire's passes.
var encodings = [numEncodings]struct {
	name   string
	passes [2]proto.Pass
}{
	EncodeNone:        {"none", [2]proto.Pass{proto.PassNone, proto.PassNone}},
	EncodeXOR:         {"xor", [2]proto.Pass{proto.PassXOR, proto.PassNone}},
	EncodeCompress:    {"compress", [2]proto.Pass{proto.PassCompress, proto.PassNone}},
	EncodeCompressXOR: {"compress+xor", [2]proto.Pass{proto.PassCompress, proto.PassXOR}},
	EncodeXORCompress: {"xor+compress", [2]proto.Pass{proto.PassXOR, proto.PassCompress}},
}

// ErrBadEncoding is what ParseEncoding returns for a name it does not know.
var ErrBadEncoding = errors.New("eqgate: encoding: want none, xor, compress, compress+xor or xor+compress")

// String returns the name ParseEncoding accepts: pass1+pass2.
func (e Encoding) String() string {
	if e < numEncodings {
		return encodings[e].name
	}
	return "unknown"
}

// ParseEncoding is the inverse of String.
func ParseEncoding(s string) (Encoding, error) {
	for e := range numEncodings {
		if encodings[e].name == s {
			return e, nil
		}
	}
	return 0, ErrBadEncoding
}

// MarshalText and UnmarshalText make an Encoding a flag.TextVar or a
// config-file value under its String name.
func (e Encoding) MarshalText() ([]byte, error) { return []byte(e.String()), nil }

// UnmarshalText parses a name as ParseEncoding does.
func (e *Encoding) UnmarshalText(b []byte) error {
	v, err := ParseEncoding(string(b))
	if err != nil {
		return err
	}
	*e = v
	return nil
}

// passes is e on the wire; validate has refused anything out of range.
func (e Encoding) passes() [2]proto.Pass { return encodings[e].passes }

// CompressLevel trades the compression pass's CPU for its bytes, for what
// this end sends; peers inflate every level (proto.CompressLevel, tuning.md
// "Compression levels"). It applies to the RS and LEGACY compression pass;
// EQ2's per-stream deflate is its own.
type CompressLevel = proto.CompressLevel

const (
	CompressDefault = proto.CompressDefault // a dynamic Huffman code where it should save 1/16 of the block
	CompressFast    = proto.CompressFast    // fixed Huffman codes only: about 40 % of the codec CPU, ~3.5 % more bytes on the wire
	CompressSmall   = proto.CompressSmall   // a dynamic code tried on every region from 384 bytes, kept where smaller
)

// ErrBadCompressLevel is what proto.ParseCompressLevel (and the
// -compress-level flag) returns for a name it does not know.
var ErrBadCompressLevel = proto.ErrBadCompressLevel
