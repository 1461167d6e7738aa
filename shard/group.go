package shard

import (
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eqgate/eqgate/batchio"
	"github.com/eqgate/eqgate/proto"
)

// Config configures a Group. Proto must have passed Validate (NewGroup and
// Open call it).
type Config struct {
	Role  Role
	Proto proto.Config

	Batch          int  // datagrams per recvmmsg/sendmmsg
	DatagramBuffer int  // bytes per receive buffer
	RecvBuffer     int  // SO_RCVBUF request (Open only)
	SendBuffer     int  // SO_SNDBUF request (Open only)
	Steering       bool // reuseport steering program (Open only)
	GSO            bool // UDP_SEGMENT (Open only)
	ShareSockets   bool // dialled sessions on a specific address share sockets (batchio.SetOptions.Share)

	MaxSessions         int // over the group
	MaxSessionsPerShard int
	MaxSessionsPerIP    int // per source address over the group (server)

	InboxSize      int // MPSC inbox capacity per shard
	HandoffSize    int // SPSC ring capacity per shard pair
	HandoffBuffers int // pool buffers per shard beyond Batch, for datagrams lent to peers (at most peers × HandoffSize are used)
	// MaxQueuedBytes is each session's send queue in front of its window
	// (sendq.go): data plus 64 bytes a send.
	MaxQueuedBytes int
	TimerSlot      time.Duration // timer wheel granularity
	HoldDelay      time.Duration // 0: flush touched sessions at the end of each batch
	Rand           func() uint32 // connect codes, and (server) one fixed session key for every session; nil: random codes, keys from the admission secret

	// Admission (admission.go).
	HalfOpenMax      int           // CRC 0 only: half-open sessions per shard
	HalfOpenTimeout  time.Duration // CRC 0 only: a half-open session silent this long may be dropped for a new one
	OutOfSessionRate int           // OutOfSession answers per second per shard; negative: none
	AttackRate       int           // unproven datagrams per second per shard that mean an attack; negative: never

	// PeerBudget caps the peer data (reorder queues, partial fragment
	// sets) all sessions of one shard hold, in bytes (proto.Budget): 0
	// means DefaultPeerBudget, negative no cap (still counted).
	PeerBudget int
}

// More errors.
var (
	ErrDialBusy   = errors.New("eqgate: a session to that address is already open on this client")
	ErrSessionCap = errors.New("eqgate: session cap reached")
)

// Engine defaults, applied to zero Config fields. The root package's
// Config.Filled reports these same values, so they live only here.
const (
	DefaultBatch            = batchio.DefaultBatch
	DefaultDatagramBuffer   = 2048
	DefaultMaxSessions      = 1 << 20
	DefaultMaxSessionsPerIP = 256
	DefaultInboxSize        = 4096
	DefaultHandoffSize      = 1024
	DefaultHandoffBuffers   = 4096
	DefaultTimerSlot        = 4 * time.Millisecond
	DefaultMaxQueuedBytes   = 1 << 20
	MaxQueuedBytesLimit     = 1<<31 - 1 // the credit word holds 32 bits
	DefaultPeerBudget       = 32 << 20  // tuning.md, "Memory budgets"
)

func (c *Config) normalize() error {
	if c.Batch <= 0 {
		c.Batch = batchio.DefaultBatch
	}
	if c.DatagramBuffer <= 0 {
		c.DatagramBuffer = DefaultDatagramBuffer
	}
	if c.MaxSessions <= 0 {
		c.MaxSessions = DefaultMaxSessions
	}
	if c.MaxSessionsPerShard <= 0 || c.MaxSessionsPerShard > MaxSlots-1 {
		c.MaxSessionsPerShard = min(c.MaxSessions, MaxSlots-1)
	}
	if c.MaxSessionsPerIP <= 0 {
		c.MaxSessionsPerIP = DefaultMaxSessionsPerIP
	}
	if c.InboxSize <= 0 {
		c.InboxSize = DefaultInboxSize
	}
	if c.HandoffSize <= 0 {
		c.HandoffSize = DefaultHandoffSize
	}
	if c.HandoffBuffers <= 0 {
		c.HandoffBuffers = DefaultHandoffBuffers
	}
	if c.MaxQueuedBytes <= 0 {
		c.MaxQueuedBytes = DefaultMaxQueuedBytes
	}
	if c.MaxQueuedBytes > MaxQueuedBytesLimit {
		return errors.New("eqgate: MaxQueuedBytes above 1<<31-1")
	}
	if c.TimerSlot <= 0 {
		c.TimerSlot = DefaultTimerSlot
	}
	if c.HalfOpenMax <= 0 {
		c.HalfOpenMax = DefaultHalfOpenMax
	}
	if c.HalfOpenTimeout <= 0 {
		c.HalfOpenTimeout = DefaultHalfOpenTimeout
	}
	if c.OutOfSessionRate == 0 {
		c.OutOfSessionRate = DefaultOutOfSessionRate
	}
	if c.AttackRate == 0 {
		c.AttackRate = DefaultAttackRate
	}
	if c.PeerBudget == 0 {
		c.PeerBudget = DefaultPeerBudget
	}
	return c.Proto.Validate()
}

// Group is a set of shards sharing one address, one Handler and the
// group-wide session caps.
type Group struct {
	cfg    Config
	h      Handler
	shards []*Shard
	socks  *batchio.Group // nil when built from NewGroup
	sets   []*batchio.Set // the shards' sockets when Open or NewClientGroup built them
	addr   netip.AddrPort
	epoch  time.Time

	total  atomic.Int64 // sessions over the group, for MaxSessions
	perIP  ipLimiter
	secret []byte              // admission secret, one per group (admission.go)
	drain  drainGroup          // drain.go
	tap    atomic.Pointer[Tap] // tap.go

	started   bool
	closeOnce sync.Once
	closeErr  error
}

// Open binds a reuseport group of n sockets to addr and builds a shard on
// each; n is 1 for RoleClient and otherwise shards.
func Open(addr netip.AddrPort, shards int, cfg Config, h Handler) (*Group, error) {
	if err := cfg.normalize(); err != nil {
		return nil, err
	}
	if shards < 1 || shards > MaxShards {
		return nil, errors.New("eqgate: shard count out of range")
	}
	bg, err := batchio.Open(addr, batchio.Options{
		Sockets:    shards,
		RecvBuffer: cfg.RecvBuffer,
		SendBuffer: cfg.SendBuffer,
		Steering:   cfg.Steering,
		GSO:        cfg.GSO,
		Batch:      cfg.Batch,
		PacketInfo: packetInfo(addr, cfg.Role),
	})
	if err != nil {
		return nil, err
	}
	// Each shard's socket is a Set over its Conn, so any shard can dial
	// (a relay's backend legs); with no dialled session a Set is its Conn.
	// Dialled sockets keep the kernel's default buffers: one session's
	// traffic, times many.
	sets := make([]*batchio.Set, bg.Len())
	socks := make([]Socket, bg.Len())
	for i := range socks {
		sets[i] = batchio.NewSet(bg.Conn(i), batchio.SetOptions{Batch: cfg.Batch, GSO: cfg.GSO, Share: cfg.ShareSockets})
		socks[i] = sets[i]
	}
	g, err := NewGroup(cfg, socks, h)
	if err != nil {
		_ = bg.Close() // the construction error is the one to report
		return nil, err
	}
	g.socks, g.sets = bg, sets
	g.addr = bg.Facts().Addr
	return g, nil
}

// NewClientGroup builds n shards that only dial: each shard's socket is a
// batchio.Set of member sockets, one per dialled session (see DialFrom),
// with RecvBuffer and SendBuffer requested for each member. Close closes
// them all.
func NewClientGroup(n int, cfg Config, h Handler) (*Group, error) {
	cfg.Role = RoleClient
	if n < 1 || n > MaxShards {
		return nil, errors.New("eqgate: shard count out of range")
	}
	sets := make([]*batchio.Set, n)
	socks := make([]Socket, n)
	for i := range socks {
		sets[i] = batchio.NewSet(nil, batchio.SetOptions{Batch: cfg.Batch, RecvBuffer: cfg.RecvBuffer, SendBuffer: cfg.SendBuffer, GSO: cfg.GSO, Share: cfg.ShareSockets})
		socks[i] = sets[i]
	}
	g, err := NewGroup(cfg, socks, h)
	if err != nil {
		return nil, err
	}
	g.sets = sets
	return g, nil
}

// NewGroup builds shards over the given sockets (one shard each). Tests use
// it with in-memory sockets; Close then does not close them.
func NewGroup(cfg Config, socks []Socket, h Handler) (*Group, error) {
	if err := cfg.normalize(); err != nil {
		return nil, err
	}
	if len(socks) < 1 || len(socks) > MaxShards {
		return nil, errors.New("eqgate: shard count out of range")
	}
	g := &Group{cfg: cfg, h: h, epoch: time.Now(), secret: newSecret()}
	g.drain.idleCh = make(chan struct{})
	if cfg.Role == RoleServer {
		g.perIP = newIPLimiter(cfg.MaxSessionsPerIP)
	}
	g.shards = make([]*Shard, len(socks))
	for i, sk := range socks {
		g.shards[i] = newShard(g, i, sk)
	}
	return g, nil
}

// Start launches one goroutine per shard.
func (g *Group) Start() {
	if g.started {
		return
	}
	g.started = true
	for _, s := range g.shards {
		go s.run()
	}
}

// Variant is the protocol variant of the group's sessions.
func (g *Group) Variant() proto.Variant { return g.cfg.Proto.Variant }

// Len is the number of shards.
func (g *Group) Len() int { return len(g.shards) }

// Shard returns shard i.
func (g *Group) Shard(i int) *Shard { return g.shards[i] }

// Addr is the bound address (zero for NewGroup groups).
func (g *Group) Addr() netip.AddrPort { return g.addr }

// Facts is what the kernel granted a socket group (batchio's report).
type Facts = batchio.Facts

// Facts reports what the kernel granted the sockets (zero for NewGroup).
func (g *Group) Facts() Facts {
	if g.socks == nil {
		return batchio.Facts{}
	}
	return g.socks.Facts()
}

// Close stops every shard after draining it (see Shard.shutdown), waits for
// the goroutines, then closes the sockets Open made.
func (g *Group) Close() error {
	g.closeOnce.Do(func() {
		for _, s := range g.shards {
			s.stop.Store(true)
			s.sock.Wake()
		}
		if g.started {
			for _, s := range g.shards {
				<-s.done
			}
		}
		for _, set := range g.sets {
			// The shards have stopped: their members are ours to close
			// (each shard's shutdown closed its sessions' already).
			_ = set.Close() // only wakes; nothing to report
			set.CloseMembers()
		}
		if g.socks != nil {
			g.closeErr = g.socks.Close()
		}
	})
	return g.closeErr
}

func (g *Group) takeTotal() bool {
	if g.total.Add(1) > int64(g.cfg.MaxSessions) {
		g.total.Add(-1)
		return false
	}
	return true
}

func (g *Group) giveTotal() { g.total.Add(-1) }
