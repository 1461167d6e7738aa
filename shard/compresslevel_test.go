package shard

import (
	"testing"

	"github.com/eqgate/eqgate/proto"
)

// TestCompressLevelReachesCoder: the shard deflates at its Proto config's
// level, since one Coder serves all its sessions.
func TestCompressLevelReachesCoder(t *testing.T) {
	for _, l := range []proto.CompressLevel{proto.CompressDefault, proto.CompressFast, proto.CompressSmall} {
		p := proto.ZoneConfig()
		p.CompressLevel = l
		g, err := NewGroup(Config{Role: RoleServer, Proto: p}, []Socket{&memSet{members: map[uint32]bool{}}}, &echo{})
		if err != nil {
			t.Fatal(err)
		}
		if got := g.Shard(0).coder.CompressLevel(); got != l {
			t.Errorf("Proto.CompressLevel %v: the shard's coder deflates at %v", l, got)
		}
	}
}
