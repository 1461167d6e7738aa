package proto

import (
	"bytes"
	"crypto/rc4"
	"encoding/hex"
	"encoding/json"
	"testing"
)

// eq2Vectors is the eq2 section of shared/protocol/vectors.json (SPEC §25.12,
// §25.13), the parts the application layer owns.
type eq2Vectors struct {
	RC4 struct {
		KeyPacketTail string `json:"key_packet_tail"`
		K64Hex        string `json:"key_value_hex"`
		S2CKey        string `json:"server_to_client_rc4_key_bytes"`
		C2SKey        string `json:"client_to_server_rc4_key_bytes"`
		Drop          int    `json:"drop_bytes"`
		S2CStream     string `json:"server_to_client_keystream_16"`
		C2SStream     string `json:"client_to_server_keystream_16"`
	} `json:"rc4"`
	AppExample  eq2AppExample `json:"app_packet_example"`
	AppExample2 eq2AppExample `json:"app_packet_example_2"`
	KeyRequest  struct {
		Body      string `json:"body"`
		AppPacket string `json:"app_packet"`
	} `json:"key_request"`
	KeyPacket struct {
		AppPacket string `json:"app_packet"`
		K64Hex    string `json:"k64_hex"`
		MinAppLen int    `json:"min_app_len"`
	} `json:"key_packet"`
	C2S []struct {
		Pos       int    `json:"rc4_position"`
		Plain     string `json:"plain"`
		Encrypted string `json:"encrypted"`
		Payload   string `json:"payload"`
		Escaped   bool   `json:"zero_escape_applied"`
	} `json:"c2s_examples"`
	S2CAppCombined struct {
		PayloadAfterSeq string `json:"payload_after_seq"`
		Elements        []struct {
			Element   string `json:"element"`
			Escaped   bool   `json:"zero_escape_applied"`
			Pos       int    `json:"rc4_position"`
			Decrypted string `json:"decrypted"`
			Flag      int    `json:"flag"`
			AppPacket string `json:"app_packet"`
		} `json:"elements"`
	} `json:"s2c_appcombined"`
	S2CZeroEscape struct {
		Pos       int    `json:"rc4_position"`
		Element   string `json:"element"`
		Encrypted string `json:"encrypted"`
		Decrypted string `json:"decrypted"`
	} `json:"s2c_zero_escape"`
}

type eq2AppExample struct {
	Opcode    uint16 `json:"opcode"`
	Data      string `json:"data"`
	Plain     string `json:"plain_after_seq"`
	Encrypted string `json:"encrypted_after_seq"`
}

func eq2LoadVectors(t *testing.T) *eq2Vectors {
	t.Helper()
	var v eq2Vectors
	if err := json.Unmarshal(loadVectors(t)["eq2"], &v); err != nil {
		t.Fatal(err)
	}
	return &v
}

func eq2Hex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func eq2K64(t testing.TB, s string) uint64 {
	t.Helper()
	var k uint64
	for _, b := range eq2Hex(t, s) {
		k = k<<8 | uint64(b)
	}
	return k
}

func TestEQ2VectorsRC4(t *testing.T) {
	v := eq2LoadVectors(t)
	k64 := eq2K64(t, v.RC4.KeyPacketTail)
	if k64 != eq2K64(t, v.RC4.K64Hex) {
		t.Fatalf("K64 %x is not the key packet tail read big-endian", k64)
	}
	s2c, c2s := EQ2RC4Keys(k64)
	if got := hex.EncodeToString(s2c[:]); got != v.RC4.S2CKey {
		t.Errorf("s2c key %s, want %s", got, v.RC4.S2CKey)
	}
	if got := hex.EncodeToString(c2s[:]); got != v.RC4.C2SKey {
		t.Errorf("c2s key %s, want %s", got, v.RC4.C2SKey)
	}
	if v.RC4.Drop != EQ2RC4Drop {
		t.Errorf("drop %d, want %d", EQ2RC4Drop, v.RC4.Drop)
	}
	cs, cc := eq2Ciphers(k64)
	for _, tc := range []struct {
		name string
		c    RC4
		want string
	}{{"s2c", cs, v.RC4.S2CStream}, {"c2s", cc, v.RC4.C2SStream}} {
		ks := make([]byte, 16)
		tc.c.XORKeyStream(ks, ks)
		if got := hex.EncodeToString(ks); got != tc.want {
			t.Errorf("%s keystream %s, want %s", tc.name, got, tc.want)
		}
	}
}

// TestEQ2RC4MatchesStdlib holds the package's RC4 (KSA, PRGA, Discard, peek)
// to crypto/rc4 over keys of every length class and odd chunk sizes.
func TestEQ2RC4MatchesStdlib(t *testing.T) {
	for _, klen := range []int{1, 5, 8, 16, 255, 256} {
		key := make([]byte, klen)
		for i := range key {
			key[i] = byte(i*37 + klen)
		}
		ref, err := rc4.NewCipher(key)
		if err != nil {
			t.Fatal(err)
		}
		var c RC4
		c.Reset(key)
		buf := make([]byte, 1000)
		want := make([]byte, 1000)
		for i, n := range []int{1, 2, 3, 7, 20, 64, 255, 300} {
			src := buf[:n]
			for j := range src {
				src[j] = byte(i + j)
			}
			ref.XORKeyStream(want[:n], src)
			if i%2 == 1 {
				p := c.peek()
				var one [1]byte
				d := c
				d.XORKeyStream(one[:], one[:])
				if p != one[0] {
					t.Fatalf("key %d: peek %02x, next keystream byte %02x", klen, p, one[0])
				}
			}
			got := make([]byte, n)
			c.XORKeyStream(got, src)
			if !bytes.Equal(got, want[:n]) {
				t.Fatalf("key %d chunk %d: differs from crypto/rc4", klen, n)
			}
		}
		ref.XORKeyStream(want[:33], make([]byte, 33))
		c.Discard(33)
		ref.XORKeyStream(want[:5], buf[:5])
		got := make([]byte, 5)
		c.XORKeyStream(got, buf[:5])
		if !bytes.Equal(got, want[:5]) {
			t.Fatalf("key %d: Discard differs from crypto/rc4", klen)
		}
	}
}

// eq2Recorder collects what an EQ2App hands out.
type eq2Recorder struct {
	sent      [][]byte
	delivered [][]byte
}

func (r *eq2Recorder) EQ2Send(p []byte)    { r.sent = append(r.sent, bytes.Clone(p)) }
func (r *eq2Recorder) EQ2Deliver(p []byte) { r.delivered = append(r.delivered, bytes.Clone(p)) }

// eq2KeyedServer returns a server whose session received the key packet
// for k64.
func eq2KeyedServer(t testing.TB, cfg *EQ2Config, c *EQ2Coder, k64 uint64) *EQ2App {
	t.Helper()
	a := new(EQ2App)
	a.InitServer(cfg, 0)
	if err := a.Receive(c, AppendEQ2KeyPacket(nil, k64, EQ2KeyPacketLen), false, nil); err != nil {
		t.Fatal(err)
	}
	if !a.Keyed() || a.K64() != k64 {
		t.Fatalf("server not keyed with %x", k64)
	}
	return a
}

func TestEQ2VectorsServerAppPackets(t *testing.T) {
	v := eq2LoadVectors(t)
	cfg := DefaultEQ2Config()
	var c EQ2Coder
	a := eq2KeyedServer(t, &cfg, &c, eq2K64(t, v.RC4.K64Hex))
	var rec eq2Recorder
	now := Nanotime(0)
	for i, ex := range []eq2AppExample{v.AppExample, v.AppExample2} {
		app := AppendEQ2App(nil, ex.Opcode, eq2Hex(t, ex.Data))
		if got := hex.EncodeToString(append([]byte{0}, app...)); got != ex.Plain {
			t.Fatalf("example %d: plain %s, want %s", i, got, ex.Plain)
		}
		if err := a.Send(&c, now, app, &rec); err != nil {
			t.Fatal(err)
		}
		if len(rec.sent) != i {
			t.Fatalf("example %d: sent before the combine timer", i)
		}
		now = a.Next()
		a.Tick(&c, now, &rec)
		if len(rec.sent) != i+1 {
			t.Fatalf("example %d: %d payloads after the tick", i, len(rec.sent))
		}
		if got := hex.EncodeToString(rec.sent[i]); got != ex.Encrypted {
			t.Errorf("example %d: payload %s, want %s", i, got, ex.Encrypted)
		}
	}
}

func TestEQ2VectorsKeyExchange(t *testing.T) {
	v := eq2LoadVectors(t)
	if got := hex.EncodeToString(AppendEQ2KeyRequest(nil)); got != v.KeyRequest.AppPacket {
		t.Errorf("key request\n%s\nwant\n%s", got, v.KeyRequest.AppPacket)
	}
	if len(AppendEQ2KeyRequest(nil)) != EQ2KeyRequestLen {
		t.Errorf("key request is not %d bytes", EQ2KeyRequestLen)
	}
	k64 := eq2K64(t, v.KeyPacket.K64Hex)
	if got := hex.EncodeToString(AppendEQ2KeyPacket(nil, k64, EQ2KeyPacketLen)); got != v.KeyPacket.AppPacket {
		t.Errorf("key packet\n%s\nwant\n%s", got, v.KeyPacket.AppPacket)
	}
	if v.KeyPacket.MinAppLen != EQ2KeyPacketMin {
		t.Errorf("EQ2KeyPacketMin %d, vectors %d", EQ2KeyPacketMin, v.KeyPacket.MinAppLen)
	}

	// The client answers the key request with the key packet.
	cfg := DefaultEQ2Config()
	var c EQ2Coder
	var cl EQ2App
	if err := cl.InitClient(&cfg, k64, 0); err != nil {
		t.Fatal(err)
	}
	var rec eq2Recorder
	if err := cl.Receive(&c, eq2Hex(t, v.KeyRequest.AppPacket), false, &rec); err != nil {
		t.Fatal(err)
	}
	if len(rec.sent) != 1 || hex.EncodeToString(rec.sent[0]) != v.KeyPacket.AppPacket || len(rec.delivered) != 0 {
		t.Fatalf("client answered the key request with %x, delivered %d", rec.sent, len(rec.delivered))
	}
	if !cl.Encrypted() {
		t.Fatal("client not encrypting after the key packet")
	}

	// The server takes the key from the key packet, and from nothing shorter
	// than 67 bytes: a 66-byte packet is ignored, a 67-byte one is the key.
	for _, tc := range []struct {
		n     int
		keyed bool
	}{{66, false}, {67, true}, {69, true}} {
		var s EQ2App
		s.InitServer(&cfg, 0)
		err := s.Receive(&c, AppendEQ2KeyPacket(nil, k64, tc.n), false, nil)
		if s.Keyed() != tc.keyed || (tc.keyed && (err != nil || s.K64() != k64)) || (!tc.keyed && err != ErrEQ2BeforeKey) {
			t.Errorf("%d-byte key packet: keyed %v k64 %x err %v", tc.n, s.Keyed(), s.K64(), err)
		}
	}
}

func TestEQ2VectorsClientPayloads(t *testing.T) {
	v := eq2LoadVectors(t)
	k64 := eq2K64(t, v.KeyPacket.K64Hex)
	cfg := DefaultEQ2Config()
	var c EQ2Coder
	for _, ex := range v.C2S {
		cl := eq2KeyedClient(t, &cfg, &c, k64)
		cl.SetMaxPacket(512)
		var rec eq2Recorder
		cl.send.Discard(ex.Pos)
		if err := cl.Send(&c, 0, eq2Hex(t, ex.Plain), &rec); err != nil {
			t.Fatal(err)
		}
		if len(rec.sent) != 1 {
			t.Fatalf("pos %d: %d payloads", ex.Pos, len(rec.sent))
		}
		if got := hex.EncodeToString(rec.sent[0]); got != ex.Payload {
			t.Errorf("pos %d: payload %s, want %s", ex.Pos, got, ex.Payload)
		}

		// And the server side decodes it back, from the same position.
		s := eq2KeyedServer(t, &cfg, &c, k64)
		s.recv.Discard(ex.Pos)
		var srec eq2Recorder
		if err := s.Receive(&c, eq2Hex(t, ex.Payload), false, &srec); err != nil {
			t.Fatal(err)
		}
		if len(srec.delivered) != 1 || hex.EncodeToString(srec.delivered[0]) != ex.Plain {
			t.Errorf("pos %d: server delivered %x, want %s", ex.Pos, srec.delivered, ex.Plain)
		}
	}
}

func TestEQ2VectorsServerAppCombined(t *testing.T) {
	v := eq2LoadVectors(t)
	k64 := eq2K64(t, v.KeyPacket.K64Hex)
	cfg := DefaultEQ2Config()
	var c EQ2Coder
	cl := eq2KeyedClient(t, &cfg, &c, k64)
	var rec eq2Recorder
	// Each element's keystream position and plaintext, element by element
	// against the keystream.
	ks, _ := eq2Ciphers(k64)
	pos := 0
	for i, e := range v.S2CAppCombined.Elements {
		if e.Pos != pos {
			t.Fatalf("element %d at keystream %d, vectors say %d", i, pos, e.Pos)
		}
		ct := eq2Hex(t, e.Element)
		if e.Escaped {
			ct = ct[1:]
		}
		pt := make([]byte, len(ct))
		ks.XORKeyStream(pt, ct)
		if got := hex.EncodeToString(pt); got != e.Decrypted {
			t.Errorf("element %d decrypts to %s, want %s", i, got, e.Decrypted)
		}
		pos += len(ct)
	}
	if err := cl.Receive(&c, eq2Hex(t, v.S2CAppCombined.PayloadAfterSeq), false, &rec); err != nil {
		t.Fatal(err)
	}
	if len(rec.delivered) != len(v.S2CAppCombined.Elements) {
		t.Fatalf("delivered %d packets, want %d", len(rec.delivered), len(v.S2CAppCombined.Elements))
	}
	for i, e := range v.S2CAppCombined.Elements {
		if got := hex.EncodeToString(rec.delivered[i]); got != e.AppPacket {
			t.Errorf("element %d delivered\n%s\nwant\n%s", i, got, e.AppPacket)
		}
	}
	if cl.Stats.Inflated != 2 {
		t.Errorf("inflated %d elements, want 2 (#1 and #4)", cl.Stats.Inflated)
	}
}
