package shard

// ID names a session for its whole life and never another one: the shard
// that owns it, the slot it occupies in that shard's slab, and the slot's
// generation, bumped every time the slot is freed. A stale ID (its session
// closed, the slot since reused) is detected by the generation and refused,
// never misdelivered.
//
// Layout: bits 56..63 shard, 24..55 generation, 0..23 slot. Generation 0 is
// never issued, so the zero ID is never valid.
type ID uint64

// Limits fixed by the layout.
const (
	MaxShards = 1 << 8
	MaxSlots  = 1 << 24
)

// MakeID packs an ID.
func MakeID(shard int, gen uint32, slot int32) ID {
	return ID(uint64(shard)<<56 | uint64(gen)<<24 | uint64(uint32(slot)&(MaxSlots-1)))
}

// Shard is the owning shard's index.
func (id ID) Shard() int { return int(id >> 56) }

// Gen is the slot generation.
func (id ID) Gen() uint32 { return uint32(id >> 24) }

// Slot is the slab index.
func (id ID) Slot() int32 { return int32(id & (MaxSlots - 1)) }
