package proto

import "testing"

// FuzzSessionReceive feeds arbitrary datagrams, encoded with the session's
// parameters or raw, into a connected server session: nothing may panic,
// the caps hold, and the session keeps its invariants.
func FuzzSessionReceive(f *testing.F) {
	f.Add([]byte{0, 9, 0, 0, 1, 2}, true)
	f.Add([]byte{0, 3, 4, 0, 0x15, 0, 0, 4, 0, 0x0d, 0, 1}, true)
	f.Add([]byte{0, 0x0d, 0, 0, 0, 0, 0, 9, 1, 2, 3}, true)
	f.Add([]byte{0, 0x19, 0xff, 0xff, 0xff, 0, 0, 0, 2, 1, 2}, true)
	f.Add([]byte{0, 5, 0, 0, 0, 0}, true)
	f.Add([]byte{0, 1, 0, 0, 0, 3, 0, 0, 0, 7, 0, 0, 2, 0}, false)
	f.Add([]byte{0, 7, 1, 2}, true)
	cfg := DefaultConfig()
	cfg.EncodePasses = [2]Pass{PassCompress, PassXOR}
	cfg.MaxFragmentSize = 1 << 16
	cfg.ReorderWindow = 64
	cfg.ReorderBytes = 1 << 14
	c := mustCfg(f, cfg)
	coder := &Coder{} // zlib state is big: share it between runs
	f.Fuzz(func(t *testing.T, x []byte, encode bool) {
		p := newPeer()
		p.env.Coder = coder
		p.h.echo = true
		p.h.backOff = true               // a flood of messages the fuzzer never acks fills the send queue
		budget := Budget{Limit: 1 << 12} // small: refusals are explored too
		p.env.Budget = &budget
		if err := p.s.InitServer(c, 0x12345678, 0); err != nil {
			t.Fatal(err)
		}
		p.s.Receive(&p.env, 0, SessionRequest{ConnectCode: 7, MaxPacketSize: 512}.AppendTo(nil))
		for i := 0; i < 3; i++ {
			d := x
			if encode && len(x) >= 2 {
				params := p.s.Params()
				d = p.env.Coder.AppendEncode(&params, nil, x)
			} else {
				d = append([]byte(nil), x...)
			}
			p.s.Receive(&p.env, Nanotime(i), d)
			p.s.Flush(&p.env, Nanotime(i))
			p.s.Tick(&p.env, Nanotime(i)+Nanotime(cfg.ResendDelayMax))
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
		if h := heldOf(&p.s); h != p.s.PeerHeld() || budget.Held() != h {
			t.Fatalf("holds %d, session counted %d, budget %d", h, p.s.PeerHeld(), budget.Held())
		}
		p.s.Release(&p.env)
		if budget.Held() != 0 || budget.Holders() != 0 {
			t.Fatalf("after Release the budget holds %d", budget.Held())
		}
	})
}
