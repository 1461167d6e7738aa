package proto

import "testing"

// FuzzClientSession drives a client session through its handshake and
// then feeds it arbitrary datagrams: the first input is taken as the
// server's SessionResponse (raw, as a server sends it), the rest are
// encoded under whatever the client adopted, or sent raw. Nothing may
// panic, a response with another connect code is never adopted, and the
// caps hold.
func FuzzClientSession(f *testing.F) {
	resp := SessionResponse{ConnectCode: 0xcafebabe, Key: 0x11223344, CRCBytes: 2, MaxPacketSize: 512}.AppendTo(nil)
	f.Add(resp, []byte{0, 9, 0, 0, 1, 2}, true)
	f.Add(resp, []byte{0, 0x15, 0, 0}, true)
	f.Add(resp, []byte{0, 5, 0, 0, 0, 0}, true)
	f.Add(resp, []byte{0, 0x1d, 0, 0, 0, 0}, false)
	f.Add([]byte{0, 2, 0, 0, 0, 1, 0, 0, 0, 0, 4, 1, 4, 0, 0, 0, 64}, []byte{0, 3, 4, 0, 0x15, 0, 0}, true)
	cfg := DefaultConfig()
	cfg.MaxFragmentSize = 1 << 16
	cfg.ReorderWindow = 64
	cfg.ReorderBytes = 1 << 14
	c := mustCfg(f, cfg)
	coder := &Coder{}
	f.Fuzz(func(t *testing.T, response, x []byte, encode bool) {
		p := newPeer()
		p.env.Coder = coder
		if err := p.s.InitClient(c, 0xcafebabe, 0); err != nil {
			t.Fatal(err)
		}
		p.s.Tick(&p.env, 0)
		p.s.Receive(&p.env, 1, append([]byte(nil), response...))
		if r, err := ParseSessionResponse(response); p.s.State() == StateConnected && (err != nil || r.ConnectCode != 0xcafebabe) {
			t.Fatalf("adopted response %x", response)
		}
		for i := range 3 {
			now := Nanotime(2 + i)
			d := append([]byte(nil), x...)
			if encode && len(x) >= 2 {
				params := p.s.Params()
				d = coder.AppendEncode(&params, nil, x)
			}
			p.s.Receive(&p.env, now, d)
			p.s.Flush(&p.env, now)
			p.s.Tick(&p.env, now+Nanotime(cfg.ResendDelayMax))
		}
		for i := range p.s.streams {
			st := &p.s.streams[i]
			if st.reorderBytes > cfg.ReorderBytes || st.reorderN > cfg.ReorderWindow || cap(st.frag) > 2*cfg.MaxFragmentSize {
				t.Fatalf("stream %d over its caps", i)
			}
		}
		if p.s.Unacked() > cfg.MaxUnackedBytes || p.s.Unacked() < 0 {
			t.Fatalf("unacked %d", p.s.Unacked())
		}
	})
}
