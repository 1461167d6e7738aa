package eqgate

// SocketHealth is what one shard's socket reports now, for runtime logs
// and health checks: unlike Facts (granted at Listen), it follows the
// kernel.
type SocketHealth struct {
	GSO          bool   // UDP GSO in use now
	GSOReason    string // why it was turned off (EIO from the device), when it was
	KernelDrops  uint64 // datagrams the kernel dropped for the socket (receive queue full)
	SocketErrors uint64 // read errors other than close
	SendDrops    uint64 // datagrams the kernel refused to send
}

// SocketHealth reads every shard's socket state now (any goroutine; one
// getsockopt per shard).
func (s *Server) SocketHealth() []SocketHealth {
	out := make([]SocketHealth, s.g.Len())
	for i := range out {
		sh := s.g.Shard(i)
		si := sh.SocketInfo()
		k := sh.Counters()
		out[i] = SocketHealth{GSO: si.GSO, KernelDrops: si.KernelDrops,
			SocketErrors: k.LoopFatal.Load(), SendDrops: k.TxDrops.Load()}
		if si.GSOReason != nil {
			out[i].GSOReason = si.GSOReason.Error()
		}
	}
	return out
}
