package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/eqgate/eqgate"
	"github.com/eqgate/eqgate/proto"
	"github.com/eqgate/eqgate/relay"
)

// options is everything the command line (or one listener of a -config
// file, with the file's global keys and the command line over it) sets: the
// library Config plus what only the binary has (addresses, handler,
// logging, drain bound). Flags and file keys share names and go through the
// same flag.Value parsers and the same checks (finish).
type options struct {
	cfg eqgate.Config

	listen       listenAddrs // one address per port once parsed (ranges expanded)
	backend      listenAddrs // -handler relay: backend[i] for listen[i]
	listenSpec   []string    // listen and backend as given (ranges kept), for -check-config
	backendSpec  []string
	relayPending int
	relayBudget  int
	relayQueued  int // -relay-max-queued: 0 = the legs' own window and queue
	relayQBudget int
	metrics      string
	pprof        bool
	handler      string
	drainTimeout time.Duration
	drainFlush   time.Duration
	logFormat    string
	logLevel     slog.Level
	logEvery     time.Duration

	config      string // -config file
	checkConfig bool

	name  string            // listener section ("default" without sections)
	from  map[string]string // flag name -> where it was set: a file's name or "flag"
	flags *flag.FlagSet     // the set that filled this, for -check-config
}

// defaultListen is used when no -listen is given.
const defaultListen = "0.0.0.0:9000"

// configFlags maps every eqgate.Config field to the flag that sets it. The
// flag test walks Config by reflection and fails if a field is missing
// here, so a new Config field cannot ship without a flag. (Config.Rand, a
// function for embedding code, is the one exemption; the test lists it.)
var configFlags = map[string]string{
	"Variant":             "variant",
	"MaxPacketSize":       "max-packet",
	"CRCBytes":            "crc-bytes",
	"Encoding":            "encode",
	"CompressLevel":       "compress-level",
	"KeepaliveDelay":      "keepalive",
	"ResendDelayBase":     "resend-delay-base",
	"ResendDelayFactor":   "resend-delay-factor",
	"ResendDelayMin":      "resend-delay-min",
	"ResendDelayMax":      "resend-delay-max",
	"ResendTimeout":       "resend-timeout",
	"ConnectDelay":        "connect-delay",
	"ConnectStale":        "connect-timeout",
	"StaleConnection":     "stale-timeout",
	"CloseLinger":         "close-linger",
	"HoldSize":            "hold-size",
	"HoldDelay":           "hold-delay",
	"DataRate":            "data-rate",
	"ChatNoFiller":        "chat-no-filler",
	"MaxUnackedBytes":     "max-unacked-bytes",
	"MaxUnackedPackets":   "max-unacked-packets",
	"MaxQueuedBytes":      "max-queued-bytes",
	"ReorderWindow":       "reorder-window",
	"ReorderBytes":        "reorder-bytes",
	"MaxFragmentSize":     "max-fragment",
	"PeerBufferBudget":    "peer-buffer-budget",
	"OutOfSessionRate":    "out-of-session-rate",
	"HalfOpenMax":         "half-open-max",
	"HalfOpenTimeout":     "half-open-timeout",
	"AttackRate":          "attack-rate",
	"Shards":              "shards",
	"Batch":               "batch",
	"DatagramBuffer":      "datagram-buffer",
	"RecvBuffer":          "rcvbuf",
	"SendBuffer":          "sndbuf",
	"Steering":            "steer",
	"GSO":                 "gso",
	"MaxSessions":         "max-sessions",
	"MaxSessionsPerShard": "max-sessions-per-shard",
	"MaxSessionsPerIP":    "max-sessions-per-ip",
	"InboxSize":           "inbox-size",
	"HandoffSize":         "handoff-size",
	"TimerSlot":           "timer-slot",
	"HandlerPanic":        "handler-panic",
}

// newFlagSet returns the eqgate flag set writing into o, with o holding
// the defaults (eqgate.DefaultConfig). Parse errors are returned, not
// printed: run prints them as one line.
func newFlagSet(o *options) *flag.FlagSet {
	*o = options{
		cfg:          eqgate.DefaultConfig(),
		metrics:      "127.0.0.1:9100",
		handler:      "echo",
		relayPending: relay.DefaultMaxPending,
		relayBudget:  relay.DefaultShardBudget,
		relayQBudget: relay.DefaultQueueBudget,
		drainTimeout: 10 * time.Second,
		drainFlush:   eqgate.DefaultDrainFlush,
		logFormat:    "text",
		logLevel:     slog.LevelInfo,
		logEvery:     10 * time.Second,
	}
	// 0 means "same as -max-sessions"; DefaultConfig fills in the number,
	// which would then stay fixed when only -max-sessions is lowered.
	o.cfg.MaxSessionsPerShard = 0

	fs := flag.NewFlagSet("eqgate", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c := &o.cfg

	// The binary.
	fs.Var(&o.listen, "listen", "UDP `address` host:port or host:first-last (a port range) to serve; repeat for several; each port is its own server with its own shards (default "+defaultListen+")")
	fs.Var(&o.backend, "backend", "-handler relay: backend `address` host:port or host:first-last for the -listen in the same position (ranges of equal length, port i to port i)")
	fs.IntVar(&o.relayPending, "relay-max-pending", o.relayPending, "-handler relay: `bytes` a client may send before its backend leg is up; past it the session is closed")
	fs.IntVar(&o.relayBudget, "relay-shard-budget", o.relayBudget, "-handler relay: `bytes` held that way over all sessions of one shard; past it the session is closed")
	fs.IntVar(&o.relayQueued, "relay-max-queued", o.relayQueued, "-handler relay: `bytes` one leg may hold for its peer (sent unacknowledged plus queued); past it the session is closed; 0: the leg's own -max-unacked-bytes plus -max-queued-bytes")
	fs.IntVar(&o.relayQBudget, "relay-queue-budget", o.relayQBudget, "-handler relay: `bytes` all legs of one shard may hold that way; past it the session holding the most is closed")
	fs.StringVar(&o.metrics, "metrics", o.metrics, "HTTP `address` for /metrics and /healthz; empty turns the endpoint off")
	fs.BoolVar(&o.pprof, "pprof", false, "serve /debug/pprof/ on the -metrics address")
	fs.StringVar(&o.handler, "handler", o.handler, "application `handler`: echo (send every message back on its stream, reliably), discard, or relay (each session to -backend)")
	fs.DurationVar(&o.drainTimeout, "drain-timeout", o.drainTimeout, "on SIGINT/SIGTERM, refuse new sessions and let open ones run this long before disconnecting them")
	fs.DurationVar(&o.drainFlush, "drain-flush", o.drainFlush, "after -drain-timeout, give each session this long to get its unacknowledged data through before its SessionDisconnect")
	fs.StringVar(&o.logFormat, "log-format", o.logFormat, "log `format`: text or json")
	fs.TextVar(&o.logLevel, "log-level", &o.logLevel, "log `level`: debug, info, warn or error")
	fs.DurationVar(&o.logEvery, "log-every", o.logEvery, "at most one line per runtime event kind and port this often (refused sessions, kernel drops, socket errors, backend down), with counts since the last")
	fs.StringVar(&o.config, "config", "", "TOML `file` of settings: global keys (flag names without the dash) and one [listener.NAME] section per port or range; flags given too override the file in every listener (tuning.md)")
	fs.BoolVar(&o.checkConfig, "check-config", false, "validate the flags and -config file, print the effective configuration of every listener as TOML and exit (0, or 2 with the error); binds nothing")

	// Protocol (SPEC §18.2).
	fs.Var((*variantFlag)(&c.Variant), "variant", "protocol `variant`: rs (EQEmu reliable stream, the default), legacy (EQEmu EQStream 2005-2016) or eq2 (EverQuest II); the protocol flags not given default to the variant's values")
	fs.IntVar(&c.MaxPacketSize, "max-packet", c.MaxPacketSize, "largest datagram in `bytes` offered in SessionResponse (64-65536)")
	fs.Var((*crcFlag)(&c.CRCBytes), "crc-bytes", "CRC trailer `bytes` offered in SessionResponse: 0 (none), 2 or 4")
	fs.TextVar(&c.Encoding, "encode", c.Encoding, "encode `passes` offered in SessionResponse, pass1+pass2 in that order: none, xor, compress, compress+xor or xor+compress")
	fs.Var(&c.CompressLevel, "compress-level", "compression `level` (CPU against bytes) of what eqgate sends: default (the default: a dynamic Huffman code where it should save 1/16), fast (fixed codes only: about 60 % of the CPU per message for ~3.5 % more bytes on the wire) or small (a dynamic code tried on every region of 384 bytes and more, kept where smaller)")
	fs.DurationVar(&c.KeepaliveDelay, "keepalive", c.KeepaliveDelay, "send a KeepAlive after this long with nothing sent; negative: never")
	fs.DurationVar(&c.ResendDelayBase, "resend-delay-base", c.ResendDelayBase, "additive base of the resend delay (EQEmu world/zone: 100ms)")
	fs.Float64Var(&c.ResendDelayFactor, "resend-delay-factor", c.ResendDelayFactor, "resend delay = `factor` x rolling RTT + base (EQEmu world/zone: 1.5)")
	fs.DurationVar(&c.ResendDelayMin, "resend-delay-min", c.ResendDelayMin, "lower clamp of the resend delay (EQEmu world/zone: 300ms)")
	fs.DurationVar(&c.ResendDelayMax, "resend-delay-max", c.ResendDelayMax, "upper clamp of the resend delay")
	fs.DurationVar(&c.ResendTimeout, "resend-timeout", c.ResendTimeout, "close a session when its oldest unacknowledged packet is this old")
	fs.DurationVar(&c.ConnectDelay, "connect-delay", c.ConnectDelay, "client sessions only (eqgate.Dial): SessionRequest retry interval; the server ignores it")
	fs.DurationVar(&c.ConnectStale, "connect-timeout", c.ConnectStale, "client sessions only (eqgate.Dial, and -handler relay's backend legs: a backend that does not answer within it closes the client session): give up after this long with no answer")
	fs.DurationVar(&c.StaleConnection, "stale-timeout", c.StaleConnection, "close a session after this long with nothing received (EQEmu UCS: 10m)")
	fs.DurationVar(&c.CloseLinger, "close-linger", c.CloseLinger, "linger of a closing session before its final SessionDisconnect")
	fs.IntVar(&c.HoldSize, "hold-size", c.HoldSize, "flush a session's hold buffer of small packets at this many `bytes`")
	fs.DurationVar(&c.HoldDelay, "hold-delay", c.HoldDelay, "hold small outgoing packets this long to pack them into one OP_Combined; 0 flushes at the end of every receive batch")
	fs.Float64Var(&c.DataRate, "data-rate", c.DataRate, "per-session outgoing rate limit in `KiB/s`; 0 is off")
	fs.BoolVar(&c.ChatNoFiller, "chat-no-filler", c.ChatNoFiller, "client legs on a LEGACY chat stream send packets as given, without the filler byte after the opcode (for packets that already carry a client's)")

	// Engine.
	fs.IntVar(&c.Shards, "shards", c.Shards, "shards per -listen address: sockets in its SO_REUSEPORT group, one goroutine each; the default is one per core (GOMAXPROCS)")
	fs.IntVar(&c.Batch, "batch", c.Batch, "datagrams per recvmmsg/sendmmsg call (1-1024)")
	fs.IntVar(&c.DatagramBuffer, "datagram-buffer", c.DatagramBuffer, "receive buffer per datagram in `bytes`; longer datagrams are dropped as truncated (at least -max-packet + 1)")
	fs.IntVar(&c.RecvBuffer, "rcvbuf", c.RecvBuffer, "SO_RCVBUF request per socket in `bytes`; the kernel clamps it to net.core.rmem_max without CAP_NET_ADMIN (see tuning.md)")
	fs.IntVar(&c.SendBuffer, "sndbuf", c.SendBuffer, "SO_SNDBUF request per socket in `bytes`; the kernel clamps it to net.core.wmem_max without CAP_NET_ADMIN (see tuning.md)")
	fs.BoolVar(&c.Steering, "steer", c.Steering, "attach the reuseport steering program so the kernel delivers each client to its owner shard")
	fs.BoolVar(&c.GSO, "gso", c.GSO, "coalesce runs of datagrams to one client with UDP_SEGMENT when the kernel supports it (EQGATE_NO_GSO=1 forces it off)")
	fs.IntVar(&c.MaxSessions, "max-sessions", c.MaxSessions, "cap on open sessions per -listen address over all its shards")
	fs.IntVar(&c.MaxSessionsPerShard, "max-sessions-per-shard", c.MaxSessionsPerShard, "cap on open sessions per shard; 0: same as -max-sessions")
	fs.IntVar(&c.MaxSessionsPerIP, "max-sessions-per-ip", c.MaxSessionsPerIP, "cap on open sessions from one source address, all ports, per -listen address")
	fs.IntVar(&c.MaxUnackedBytes, "max-unacked-bytes", c.MaxUnackedBytes, "send window per session in `bytes` (sent, not yet acknowledged); also bounds one application packet")
	fs.IntVar(&c.MaxUnackedPackets, "max-unacked-packets", c.MaxUnackedPackets, "send window per session stream in `packets` (rounded up to a power of two, at most 8192)")
	fs.IntVar(&c.MaxQueuedBytes, "max-queued-bytes", c.MaxQueuedBytes, "send queue per session in `bytes` in front of the window (each send costs its length + 64); a send past it is refused")
	fs.IntVar(&c.ReorderWindow, "reorder-window", c.ReorderWindow, "future `packets` a session queues per stream while a gap fills (rounded up to a power of two, at most 8192)")
	fs.IntVar(&c.ReorderBytes, "reorder-bytes", c.ReorderBytes, "`bytes` of future packets a session queues per stream")
	fs.IntVar(&c.MaxFragmentSize, "max-fragment", c.MaxFragmentSize, "largest fragmented packet in `bytes` a session reassembles or sends")
	fs.IntVar(&c.PeerBufferBudget, "peer-buffer-budget", c.PeerBufferBudget, "`bytes` of peer data (reorder queues, partial fragment sets) all sessions of one shard may hold; past it the biggest holders are refused, past twice it closed (negative: no budget)")
	fs.IntVar(&c.OutOfSessionRate, "out-of-session-rate", c.OutOfSessionRate, "OutOfSession answers per second per shard to endpoints without a session (negative: none)")
	fs.IntVar(&c.HalfOpenMax, "half-open-max", c.HalfOpenMax, "with -crc-bytes 0 only: sessions per shard waiting for a first valid datagram")
	fs.DurationVar(&c.HalfOpenTimeout, "half-open-timeout", c.HalfOpenTimeout, "with -crc-bytes 0 only: a waiting session this old may be dropped for a new one")
	fs.IntVar(&c.AttackRate, "attack-rate", c.AttackRate, "unproven `datagrams` per second per shard (stateless answers, unknown endpoints proving nothing) that mean an attack: logged and eqgate_under_attack (negative: never)")
	fs.IntVar(&c.InboxSize, "inbox-size", c.InboxSize, "capacity in `items` of each shard's inbox for sends from other goroutines")
	fs.IntVar(&c.HandoffSize, "handoff-size", c.HandoffSize, "capacity in `datagrams` of each shard-to-shard handoff ring")
	fs.DurationVar(&c.TimerSlot, "timer-slot", c.TimerSlot, "granularity of each shard's timer wheel (1ms-1s)")
	fs.TextVar(&c.HandlerPanic, "handler-panic", c.HandlerPanic, "what a panic in the handler does: crash (the process exits) or close (recover, count in eqgate_handler_panics_total, close that session)")
	return fs
}

// parseFlags parses a command line of one listener (no -config file with
// sections) into options; the error names the bad flag.
func parseFlags(args []string) (*options, error) {
	ls, err := loadOptions(args)
	if err != nil {
		return nil, err
	}
	return ls[0], nil
}

// finish checks and completes options once every layer (file keys, then
// the command line) is in fs: one validation path for flags and files.
func finish(fs *flag.FlagSet, o *options) error {
	o.flags = fs
	if o.name == "" {
		o.name = "default"
	}
	if o.from == nil {
		o.from = map[string]string{}
	}
	fs.Visit(func(f *flag.Flag) {
		if o.from[f.Name] == "" {
			o.from[f.Name] = "flag"
		}
	})
	if err := refuseDefaulted(fs, o); err != nil {
		return err
	}
	variantDefaults(fs, &o.cfg)
	if len(o.listen) == 0 {
		o.listen = listenAddrs{defaultListen}
	}
	o.listenSpec, o.backendSpec = slices.Clone(o.listen), slices.Clone(o.backend)
	switch o.handler {
	case "echo", "discard", "relay":
	default:
		return fmt.Errorf("invalid value %q for %s: want echo, discard or relay", o.handler, o.what("handler"))
	}
	var err error
	if o.listen, o.backend, err = listenPlan(o.listen, o.backend, o.handler); err != nil {
		return err
	}
	if o.relayPending <= 0 || o.relayBudget <= 0 {
		return fmt.Errorf("%s and %s must be positive", o.what("relay-max-pending"), o.what("relay-shard-budget"))
	}
	if o.relayQueued < 0 || o.relayQBudget <= 0 {
		return fmt.Errorf("%s must not be negative and %s must be positive", o.what("relay-max-queued"), o.what("relay-queue-budget"))
	}
	switch o.logFormat {
	case "text", "json":
	default:
		return fmt.Errorf("invalid value %q for %s: want text or json", o.logFormat, o.what("log-format"))
	}
	if o.drainTimeout <= 0 {
		return fmt.Errorf("invalid value %v for %s: must be positive", o.drainTimeout, o.what("drain-timeout"))
	}
	if o.logEvery <= 0 {
		return fmt.Errorf("invalid value %v for %s: must be positive", o.logEvery, o.what("log-every"))
	}
	if o.drainFlush < 0 {
		return fmt.Errorf("invalid value %v for %s: must not be negative", o.drainFlush, o.what("drain-flush"))
	}
	// Checked before anything binds, so a bad value never half-starts.
	if err := o.cfg.Validate(); err != nil {
		return fmt.Errorf("%w%s", err, o.hint(err))
	}
	return nil
}

// what names the setting behind flag name for an error: "flag -shards",
// or "key shards (FILE)" when the value came from a -config file.
func (o *options) what(name string) string {
	if f := o.from[name]; f != "" && f != "flag" {
		return "key " + name + " (" + f + ")"
	}
	return "flag -" + name
}

// zeroMeans lists the flags whose 0 the Config honours as a setting of its
// own (not "the default"); every other Config flag shows its real default,
// so a 0 there would be silently replaced by it, and is refused instead.
var zeroMeans = map[string]bool{
	"max-sessions-per-shard": true, // same as -max-sessions
	"crc-bytes":              true, // no CRC (stored as -1)
	"hold-delay":             true, // flush every batch
	"data-rate":              true, // off
}

// refuseDefaulted reports a Config flag set explicitly (or by a file key)
// to a value that Config.Filled would replace (0 where 0 means "the
// default"), naming the flag and its default: a flag never runs with a
// number other than the one given.
func refuseDefaulted(fs *flag.FlagSet, o *options) error {
	var err error
	fs.Visit(func(f *flag.Flag) {
		if err == nil {
			if msg := defaulted(f.Name, &o.cfg); msg != "" {
				err = fmt.Errorf("invalid value %q for %s: %s", f.Value.String(), o.what(f.Name), msg)
			}
		}
	})
	return err
}

// defaulted says why the value flag name holds in c is not a setting, or "".
func defaulted(name string, c *eqgate.Config) string {
	field, ok := flagFields[name]
	if !ok || zeroMeans[name] {
		return ""
	}
	g, d := reflect.ValueOf(*c).FieldByName(field), reflect.ValueOf(c.Filled()).FieldByName(field)
	if g.Equal(d) {
		return ""
	}
	return fmt.Sprintf("%v is not a setting (the default is %v; give a number)", g.Interface(), d.Interface())
}

// flagFields is configFlags inverted: flag name to Config field.
var flagFields = func() map[string]string {
	m := map[string]string{}
	for f, name := range configFlags {
		m[name] = f
	}
	return m
}()

// usage writes the -h text.
func usage(w io.Writer) {
	fs := newFlagSet(new(options))
	fs.SetOutput(w)
	fmt.Fprintf(w, "Usage: eqgate [flags]\n\n"+
		"eqgate serves EverQuest-family reliable-stream sessions on UDP and hands\n"+
		"their messages to a built-in handler. Signals: SIGINT/SIGTERM drain and\n"+
		"exit (a second one exits at once); SIGHUP logs current totals.\n"+
		"Every flag is explained in tuning.md; -config FILE takes the same settings\n"+
		"from a TOML file (deploy/eqgate.toml), -check-config prints them.\n\nFlags:\n")
	fs.PrintDefaults()
}

// listenAddrs is the repeatable -listen flag.
type listenAddrs []string

func (l *listenAddrs) String() string { return strings.Join(*l, ",") }

func (l *listenAddrs) Set(s string) error {
	if s == "" {
		return errors.New("empty address")
	}
	*l = append(*l, s)
	return nil
}

// crcFlag is -crc-bytes: the wire's 0, 2 or 4, stored as Config.CRCBytes
// (-1 for none, since 0 there means "default").
type crcFlag int

func (c *crcFlag) String() string {
	if c == nil || *c < 0 {
		return "0"
	}
	return strconv.Itoa(int(*c))
}

// Get makes -check-config print the number unquoted.
func (c *crcFlag) Get() any {
	if c == nil || *c < 0 {
		return 0
	}
	return int(*c)
}

func (c *crcFlag) Set(s string) error {
	switch s {
	case "0":
		*c = -1
	case "2":
		*c = 2
	case "4":
		*c = 4
	default:
		return errors.New("want 0, 2 or 4")
	}
	return nil
}

// variantFlag is -variant: Config.Variant by name.
type variantFlag proto.Variant

func (v *variantFlag) String() string {
	if v == nil {
		return "rs"
	}
	return proto.Variant(*v).String()
}

func (v *variantFlag) Set(s string) error {
	x, ok := proto.ParseVariant(s)
	if !ok {
		return errors.New("want rs, legacy or eq2")
	}
	*v = variantFlag(x)
	return nil
}

// protocolFields are the Config fields whose defaults depend on the variant.
var protocolFields = []string{"MaxPacketSize", "CRCBytes", "KeepaliveDelay", "ResendDelayBase",
	"ResendDelayFactor", "ResendDelayMin", "ResendDelayMax", "ResendTimeout", "ConnectDelay",
	"ConnectStale", "StaleConnection", "CloseLinger", "HoldSize", "MaxUnackedBytes", "MaxUnackedPackets",
	"ReorderWindow"}

// variantDefaults gives every protocol field that no flag set the
// default of the chosen variant (the flag set starts from RS's).
func variantDefaults(fs *flag.FlagSet, c *eqgate.Config) {
	if c.Variant == proto.VariantRS {
		return
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	d := reflect.ValueOf(eqgate.Config{Variant: c.Variant, Encoding: c.Encoding}.Filled()) // LEGACY chat: 45 s
	dst := reflect.ValueOf(c).Elem()
	for _, name := range protocolFields {
		if !set[configFlags[name]] {
			dst.FieldByName(name).Set(d.FieldByName(name))
		}
	}
}
