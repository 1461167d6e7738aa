package bench

import (
	"bytes"
	"encoding/binary"
	"math"
	"slices"
)

// Payload layout (little endian):
//
//	0      magic: 0xEB random fill, 0xEC game fill (never 0x00, so no
//	       protocol opcode escape is involved)
//	1      stream 0..3
//	2..3   total length in bytes
//	4..7   session index
//	8..11  sequence number within (session, stream)
//	12..   fill, from a splitmix64 stream seeded from bytes 0..11: random
//	       takes its words as they come; game builds 48-byte records from
//	       them (gameRecord)
//
// The magic names the fill, so an echo is checked without knowing the run's
// options.
const (
	payloadMagic  = 0xEB
	gameMagic     = 0xEC
	headerSize    = 12
	MinPayload    = headerSize
	MaxPayload    = 65535
	maxStreams    = 4
	fillSeedSalt  = 0x9E3779B97F4A7C15
	splitmixGamma = 0x9E3779B97F4A7C15
	gameRecordLen = 48
)

// Fill is what a payload carries after its header.
type Fill uint8

const (
	// FillRandom is incompressible: every compressed packet goes out raw
	// (the 0xa5 fallback), so it measures the compressor's attempt.
	FillRandom Fill = iota
	// FillGame is shaped like EQ zone traffic (gameRecord) and deflates
	// to about 0.6 at 200 bytes: it measures compression doing its job.
	FillGame
)

// ParseFill reads a -fill flag value.
func ParseFill(s string) (Fill, bool) {
	switch s {
	case "random", "":
		return FillRandom, true
	case "game":
		return FillGame, true
	}
	return 0, false
}

func (f Fill) String() string {
	if f == FillGame {
		return "game"
	}
	return "random"
}

// fillMagic is each fill's byte 0; parseHeader maps it back.
var fillMagic = [...]byte{FillRandom: payloadMagic, FillGame: gameMagic}

var gameNames = [...]string{"Soandso", "Guard_Ilsin", "a_fire_beetle", "Fippy_Darkpaw", "a_gnoll_pup", "Captain_Tillin"}

// gameRecord writes the next record of a game fill: the spawn and position
// structs of zone traffic, with an entity id, three quantized float32
// coordinates, a heading, small counters, a name on one record in four and
// zero padding. Two splitmix words per record decide its values.
func gameRecord(st *uint64, rec *[gameRecordLen]byte) {
	v1, v2 := splitmix(st), splitmix(st)
	*rec = [gameRecordLen]byte{}
	binary.LittleEndian.PutUint32(rec[0:], 1000+uint32(v1&0x3ff))
	binary.LittleEndian.PutUint32(rec[4:], math.Float32bits(float32(int16(v1>>16))/16))
	binary.LittleEndian.PutUint32(rec[8:], math.Float32bits(float32(int16(v1>>32))/16))
	binary.LittleEndian.PutUint32(rec[12:], math.Float32bits(float32(int8(v1>>48))/8))
	binary.LittleEndian.PutUint16(rec[16:], uint16(v2&511))
	rec[18] = byte(v2 >> 9 & 3)
	rec[20] = 100
	if v2>>11&7 == 0 {
		rec[20] = byte(v2 >> 14 % 100)
	}
	rec[21] = byte(1 + v2>>21%60)
	if v2>>27&3 == 0 {
		copy(rec[24:], gameNames[v2>>29%uint64(len(gameNames))])
	}
}

type header struct {
	fill    Fill
	stream  int
	length  int
	session uint32
	seq     uint32
}

// fillSeed derives the fill generator's state from the header fields.
func fillSeed(session uint32, stream int, seq uint32, length int) uint64 {
	return (uint64(session)<<32 | uint64(seq)) ^ (uint64(stream)<<16|uint64(length))*fillSeedSalt
}

func splitmix(x *uint64) uint64 {
	*x += splitmixGamma
	z := *x
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

// Payload returns the n-byte message eqbench sends as seq on stream 0 of
// session with fill, in b when it is long enough: the same bytes for
// measurements outside eqbench (bench/zlibref). n is clamped to
// [MinPayload, MaxPayload].
func Payload(b []byte, fill Fill, session, seq uint32, n int) []byte {
	n = min(max(n, MinPayload), MaxPayload)
	if cap(b) < n {
		b = make([]byte, n)
	}
	return buildPayload(b[:n], fill, session, 0, seq, n)
}

// buildPayload writes the payload for (session, stream, seq) of length n
// into b[:n]; b must be at least n long and n in [MinPayload, MaxPayload].
func buildPayload(b []byte, fill Fill, session uint32, stream int, seq uint32, n int) []byte {
	b = b[:n]
	b[0] = fillMagic[fill]
	b[1] = byte(stream)
	binary.LittleEndian.PutUint16(b[2:], uint16(n))
	binary.LittleEndian.PutUint32(b[4:], session)
	binary.LittleEndian.PutUint32(b[8:], seq)
	st := fillSeed(session, stream, seq, n)
	i := headerSize
	if fill == FillGame {
		var rec [gameRecordLen]byte
		for ; i < n; i += gameRecordLen {
			gameRecord(&st, &rec)
			copy(b[i:], rec[:])
		}
		return b
	}
	for ; i+8 <= n; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], splitmix(&st))
	}
	if i < n {
		v := splitmix(&st)
		for ; i < n; i++ {
			b[i] = byte(v)
			v >>= 8
		}
	}
	return b
}

// parseHeader reads the header of an echo; false when it cannot be one of
// ours (too short, wrong magic, stream out of range, length mismatch).
func parseHeader(b []byte) (header, bool) {
	if len(b) < headerSize || b[1] >= maxStreams {
		return header{}, false
	}
	fill := slices.Index(fillMagic[:], b[0])
	if fill < 0 {
		return header{}, false
	}
	h := header{
		fill:    Fill(fill),
		stream:  int(b[1]),
		length:  int(binary.LittleEndian.Uint16(b[2:])),
		session: binary.LittleEndian.Uint32(b[4:]),
		seq:     binary.LittleEndian.Uint32(b[8:]),
	}
	if h.length != len(b) {
		return header{}, false
	}
	return h, true
}

// fillOK reports whether b's fill matches what its header implies.
func fillOK(b []byte, h header) bool {
	st := fillSeed(h.session, h.stream, h.seq, h.length)
	n := len(b)
	i := headerSize
	if h.fill == FillGame {
		var rec [gameRecordLen]byte
		for ; i < n; i += gameRecordLen {
			gameRecord(&st, &rec)
			if !bytes.Equal(b[i:min(n, i+gameRecordLen)], rec[:min(n-i, gameRecordLen)]) {
				return false
			}
		}
		return true
	}
	for ; i+8 <= n; i += 8 {
		if binary.LittleEndian.Uint64(b[i:]) != splitmix(&st) {
			return false
		}
	}
	if i < n {
		v := splitmix(&st)
		for ; i < n; i++ {
			if b[i] != byte(v) {
				return false
			}
			v >>= 8
		}
	}
	return true
}
