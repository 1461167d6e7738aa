package proto

import (
	"bytes"
	"testing"
)

func TestAdmissionKeys(t *testing.T) {
	cfg := mustCfg(t, DefaultConfig())
	a := NewAdmission(cfg, []byte("0123456789abcdef0123456789abcdef"))
	b := NewAdmission(cfg, []byte("another secret, another process."))
	var x, y [16]byte
	x[15], y[15] = 1, 2
	k := a.Key(3, &x, 100, 512)
	if k != a.Key(3, &x, 100, 512) {
		t.Fatal("Key is not a function of its inputs")
	}
	for name, other := range map[string]uint32{
		"epoch":      a.Key(4, &x, 100, 512),
		"address":    a.Key(3, &y, 100, 512),
		"port":       a.Key(3, &x, 101, 512),
		"max packet": a.Key(3, &x, 100, 400),
		"secret":     b.Key(3, &x, 100, 512),
	} {
		if other == k {
			t.Errorf("changing the %s left the key %08x", name, k)
		}
	}
}

// TestAdmissionVerify: a datagram the client encodes under the response's
// key verifies in the response's epoch and the next, not after, and not
// from another endpoint or once altered.
func TestAdmissionVerify(t *testing.T) {
	cfg := mustCfg(t, DefaultConfig())
	a := NewAdmission(cfg, []byte("0123456789abcdef0123456789abcdef"))
	var addr [16]byte
	addr[15] = 9
	epoch := Nanotime(cfg.StaleConnection)
	at := 5*epoch + epoch/2
	req := SessionRequest{ProtocolVersion: 3, ConnectCode: 77, MaxPacketSize: 300}.AppendTo(nil)
	resp, parsed, ok := a.Respond(nil, at, &addr, 4000, req)
	if !ok || parsed.ConnectCode != 77 {
		t.Fatal("request refused")
	}
	again, _, _ := a.Respond(nil, at+epoch/4, &addr, 4000, req)
	if !bytes.Equal(resp, again) {
		t.Fatalf("repeat %x, want %x", again, resp)
	}
	c, _ := handshakeClient(t, cfg, resp)
	d := c.AppendEncode(&c.p, nil, AppendPacket(nil, 0, 0, []byte{1, 2, 3}))
	tests := []struct {
		name string
		now  Nanotime
		port uint16
		mp   int
		d    []byte
		ok   bool
	}{
		{"same epoch", at, 4000, 300, d, true},
		{"next epoch", at + epoch, 4000, 300, d, true},
		{"two epochs on", at + 2*epoch, 4000, 300, d, false},
		{"no hint of the max packet", at, 4000, 0, d, false},
		{"other port", at, 4001, 300, d, false},
		{"altered", at, 4000, 300, append(bytes.Clone(d[:len(d)-1]), d[len(d)-1]^1), false},
		{"keepalive without a trailer", at, 4000, 300, []byte{0, 6}, false},
		{"bare request", at, 4000, 300, req, false},
	}
	for _, tc := range tests {
		tk, ok := a.Verify(tc.now, &addr, tc.port, tc.mp, tc.d)
		if ok != tc.ok || (ok && (tk.MaxPacket != 300 || tk.Key != c.p.Key)) {
			t.Errorf("%s: %v %+v, want %v", tc.name, ok, tk, tc.ok)
		}
	}
	if testing.AllocsPerRun(50, func() { a.Verify(at, &addr, 4000, 300, d) }) != 0 {
		t.Error("Verify allocates")
	}
}

type clientCoder struct {
	Coder
	p Params
}

// handshakeClient adopts response resp as a client would.
func handshakeClient(t *testing.T, cfg *Config, resp []byte) (*clientCoder, SessionResponse) {
	t.Helper()
	r, err := ParseSessionResponse(resp)
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewParams(r.Key, int(r.CRCBytes), r.Passes, int(r.MaxPacketSize))
	if err != nil {
		t.Fatal(err)
	}
	return &clientCoder{p: p}, r
}
