package proto

import "errors"

// CompressLevel trades the compression pass's CPU for its bytes. Every
// level writes zlib streams that EQ clients and C zlib inflate (SPEC §8);
// they differ in when a region gets a dynamic Huffman code, which is most
// of the codec's cost on regions of a few hundred bytes (tuning.md,
// "Compression levels", has the figures).
type CompressLevel uint8

const (
	// CompressDefault builds a dynamic code when the region's entropy
	// says it saves at least 1/16 of the fixed-code block.
	CompressDefault CompressLevel = iota
	// CompressFast uses the fixed codes only: on 420-byte game messages
	// (bench/zlibref's BenchmarkCodec) the codec spends 3.3 µs against
	// 10.6 for 5 % more bytes (3.5 % more on the wire end to end,
	// bench/RESULTS.md).
	CompressFast
	// CompressSmall builds a dynamic code for every region of
	// deflateDynamicMin bytes and more and keeps it when it is smaller (C
	// zlib tries one on every block).
	CompressSmall
	numCompressLevels
)

var compressLevelNames = [numCompressLevels]string{"default", "fast", "small"}

// ErrBadCompressLevel is what ParseCompressLevel returns for a name it does
// not know, and SetCompressLevel for a level out of range.
var ErrBadCompressLevel = errors.New("eqgate: compress level: want default, fast or small")

// String returns the name ParseCompressLevel accepts.
func (l CompressLevel) String() string {
	if l.Valid() {
		return compressLevelNames[l]
	}
	return "unknown"
}

// ParseCompressLevel is the inverse of String.
func ParseCompressLevel(s string) (CompressLevel, error) {
	for l, n := range compressLevelNames {
		if n == s {
			return CompressLevel(l), nil
		}
	}
	return 0, ErrBadCompressLevel
}

// MarshalText and UnmarshalText make a CompressLevel a flag.TextVar or a
// config-file value under its String name.
func (l CompressLevel) MarshalText() ([]byte, error) { return []byte(l.String()), nil }

// UnmarshalText parses a name as ParseCompressLevel does.
func (l *CompressLevel) UnmarshalText(b []byte) error {
	v, err := ParseCompressLevel(string(b))
	if err != nil {
		return err
	}
	*l = v
	return nil
}

// Set parses a name as ParseCompressLevel does; with String it makes a
// *CompressLevel a flag.Value whose zero value is the default level, so
// flag's usage does not print "(default default)".
func (l *CompressLevel) Set(s string) error { return l.UnmarshalText([]byte(s)) }

// Valid reports whether l is one of the levels: the one range check that
// Config.Validate, eqgate's Config and SetCompressLevel share.
func (l CompressLevel) Valid() bool { return l < numCompressLevels }

// SetCompressLevel sets the level of every region the Coder deflates from
// now on. A level out of range is refused with ErrBadCompressLevel and the
// Coder keeps the level it had.
func (c *Coder) SetCompressLevel(l CompressLevel) error {
	if !l.Valid() {
		return ErrBadCompressLevel
	}
	c.def.level = l
	return nil
}

// CompressLevel returns the level SetCompressLevel set.
func (c *Coder) CompressLevel() CompressLevel { return c.def.level }
