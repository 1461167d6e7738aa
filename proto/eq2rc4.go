package proto

// RC4 for the EverQuest II application layer (SPEC §22.7).
//
// eqgate keeps its own RC4 instead of crypto/rc4 for two reasons: the state
// is 258 bytes instead of crypto/rc4's 1 KiB of uint32 (two ciphers live in
// every EQ2 session), and it is a plain value, so eqgate's client can save
// and restore it around a trial encryption (the filler trick of §22.6).
// TestEQ2RC4MatchesStdlib checks it against crypto/rc4.

// RC4 is one RC4 keystream. The zero value is not keyed; use Reset. Copying
// an RC4 copies the keystream position.
type RC4 struct {
	s    [256]byte
	i, j uint8
}

// EQ2RC4Drop is the number of keystream bytes each EQ2 cipher throws away
// after its key schedule (SPEC §22.7 step 3).
const EQ2RC4Drop = 20

// Reset runs the RC4 key schedule (KSA) for key, which must be 1 to 256
// bytes long (EQ2 uses 8). An empty key is a programmer error and panics.
func (c *RC4) Reset(key []byte) {
	if len(key) == 0 || len(key) > 256 {
		panic("proto: RC4 key must be 1 to 256 bytes")
	}
	for i := range c.s {
		c.s[i] = byte(i)
	}
	var j uint8
	for i := 0; i < 256; i++ {
		j += c.s[i] + key[i%len(key)]
		c.s[i], c.s[j] = c.s[j], c.s[i]
	}
	c.i, c.j = 0, 0
}

// XORKeyStream XORs src with the keystream into dst, which may be src
// itself (in place) but must not overlap it otherwise; len(dst) ≥ len(src).
func (c *RC4) XORKeyStream(dst, src []byte) {
	if len(src) == 0 {
		return
	}
	dst = dst[:len(src)] // one bounds check for the loop below
	i, j := c.i, c.j
	s := &c.s
	for k, v := range src {
		i++
		x := s[i]
		j += x
		y := s[j]
		s[i], s[j] = y, x
		dst[k] = v ^ s[x+y]
	}
	c.i, c.j = i, j
}

// Discard advances the keystream by n bytes.
func (c *RC4) Discard(n int) {
	i, j := c.i, c.j
	s := &c.s
	for ; n > 0; n-- {
		i++
		x := s[i]
		j += x
		s[i], s[j] = s[j], x
	}
	c.i, c.j = i, j
}

// EQ2RC4Keys returns the two RC4 keys of an EQ2 session whose key packet
// carried K64 (SPEC §22.7 step 3): server to client uses K64's 8 bytes
// least-significant first, client to server those of ^K64.
func EQ2RC4Keys(k64 uint64) (s2c, c2s [8]byte) {
	for i := range 8 {
		s2c[i] = byte(k64 >> (8 * i))
		c2s[i] = ^s2c[i]
	}
	return s2c, c2s
}

// eq2Ciphers keys both directions of a session for K64, each with its
// first EQ2RC4Drop bytes thrown away.
func eq2Ciphers(k64 uint64) (s2c, c2s RC4) {
	ks, kc := EQ2RC4Keys(k64)
	s2c.Reset(ks[:])
	s2c.Discard(EQ2RC4Drop)
	c2s.Reset(kc[:])
	c2s.Discard(EQ2RC4Drop)
	return s2c, c2s
}
