//go:build linux

package batchio

import "golang.org/x/sys/unix"

// skfNetOff makes a classic-BPF load relative to the network header
// (SKF_NET_OFF, include/uapi/linux/filter.h). A reuseport program runs with
// its data pointer at the UDP payload (run_bpf_filter, net/core/sock_reuseport.c),
// so the IP header is only reachable this way. Measured on Linux 6.18: such a
// program attaches without CAP_NET_ADMIN.
const skfNetOff = -0x100000

// cBPF scratch slots.
const (
	memPort = 0
	memAddr = 1
)

// insn is a classic-BPF instruction whose jumps name labels, resolved by
// assemble; jumps go forward only, as classic BPF requires.
type insn struct {
	f          unix.SockFilter
	label      string // marks this instruction as a jump target
	jt, jf, ja string
}

func op(code uint16, k uint32) insn { return insn{f: unix.SockFilter{Code: code, K: k}} }

func netOff(off int32) uint32 { return uint32(skfNetOff + off) }

// steeringProgram returns the reuseport program that returns Route(src) % n
// for an IPv4 or IPv6 UDP datagram (IPv4 on a dual-stack socket included),
// and 0xffffffff (>= n: the kernel's own hash picks) for anything it cannot
// parse, such as IPv6 with extension headers. It mirrors Route step for step;
// TestSteeringProgramMatchesRoute runs it in a classic-BPF interpreter and
// TestSteering on the kernel.
func steeringProgram(n uint32) []unix.SockFilter {
	const (
		ldB   = unix.BPF_LD | unix.BPF_B | unix.BPF_ABS
		ldH   = unix.BPF_LD | unix.BPF_H | unix.BPF_ABS
		ldW   = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
		ldHX  = unix.BPF_LD | unix.BPF_H | unix.BPF_IND
		ldMem = unix.BPF_LD | unix.BPF_W | unix.BPF_MEM
		ldxM  = unix.BPF_LDX | unix.BPF_W | unix.BPF_MEM
		st    = unix.BPF_ST
		tax   = unix.BPF_MISC | unix.BPF_TAX
		jeq   = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		ja    = unix.BPF_JMP | unix.BPF_JA
		and   = unix.BPF_ALU | unix.BPF_AND | unix.BPF_K
		lsh   = unix.BPF_ALU | unix.BPF_LSH | unix.BPF_K
		rsh   = unix.BPF_ALU | unix.BPF_RSH | unix.BPF_K
		mul   = unix.BPF_ALU | unix.BPF_MUL | unix.BPF_K
		xorX  = unix.BPF_ALU | unix.BPF_XOR | unix.BPF_X
		xorK  = unix.BPF_ALU | unix.BPF_XOR | unix.BPF_K
		mod   = unix.BPF_ALU | unix.BPF_MOD | unix.BPF_K
		retA  = unix.BPF_RET | unix.BPF_A
		retK  = unix.BPF_RET | unix.BPF_K
	)
	j := func(code uint16, k uint32, jt, jf string) insn {
		i := op(code, k)
		i.jt, i.jf = jt, jf
		return i
	}
	at := func(label string, i insn) insn { i.label = label; return i }
	prog := []insn{
		op(ldB, netOff(0)), // version nibble
		op(rsh, 4),
		j(jeq, 4, "v4", ""),
		j(jeq, 6, "v6", "fallback"),

		// IPv4: port at the IP header length (ihl*4), address at 12.
		at("v4", op(ldB, netOff(0))),
		op(and, 0xf),
		op(lsh, 2),
		op(tax, 0),
		op(ldHX, netOff(0)),
		op(st, memPort),
		op(ldW, netOff(12)),
		op(st, memAddr),
		{f: unix.SockFilter{Code: ja}, ja: "hash"},

		// IPv6: UDP must follow the fixed header (next header 17), so the
		// port is at 40; the address (8..24) folds to the xor of its words.
		at("v6", op(ldB, netOff(6))),
		j(jeq, unix.IPPROTO_UDP, "", "fallback"),
		op(ldW, netOff(8)),
		op(st, memAddr),
		op(ldW, netOff(12)),
		op(ldxM, memAddr),
		op(xorX, 0),
		op(st, memAddr),
		op(ldW, netOff(16)),
		op(ldxM, memAddr),
		op(xorX, 0),
		op(st, memAddr),
		op(ldW, netOff(20)),
		op(ldxM, memAddr),
		op(xorX, 0),
		op(st, memAddr),
		op(ldH, netOff(40)),
		op(st, memPort),

		// h = (a^S1)*K1 ^ (port^S2)*K2; h ^= h>>16; h *= K3; h ^= h>>15; return h % n
		at("hash", op(ldMem, memPort)),
		op(xorK, routeS2),
		op(mul, routeK2),
		op(st, memPort),
		op(ldMem, memAddr),
		op(xorK, routeS1),
		op(mul, routeK1),
		op(ldxM, memPort),
		op(xorX, 0),
		op(tax, 0),
		op(rsh, 16),
		op(xorX, 0),
		op(mul, routeK3),
		op(tax, 0),
		op(rsh, 15),
		op(xorX, 0),
		op(mod, n),
		op(retA, 0),

		at("fallback", op(retK, 0xffffffff)),
	}
	return assemble(prog)
}

func assemble(prog []insn) []unix.SockFilter {
	labels := map[string]int{}
	for pc, i := range prog {
		if i.label != "" {
			labels[i.label] = pc
		}
	}
	rel := func(pc int, l string) int {
		if l == "" {
			return 0
		}
		t, ok := labels[l]
		if !ok || t <= pc {
			panic("batchio: bad steering label " + l) // programmer error
		}
		return t - pc - 1
	}
	out := make([]unix.SockFilter, len(prog))
	for pc, i := range prog {
		f := i.f
		if i.ja != "" {
			f.K = uint32(rel(pc, i.ja))
		}
		jt, jf := rel(pc, i.jt), rel(pc, i.jf)
		if jt > 255 || jf > 255 {
			panic("batchio: steering jump too far") // programmer error
		}
		f.Jt, f.Jf = uint8(jt), uint8(jf)
		out[pc] = f
	}
	return out
}

// attachSteering attaches the program to the group fd belongs to (the
// program is per group, so any member will do).
func attachSteering(fd int, n int) error {
	prog := steeringProgram(uint32(n))
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	return unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_REUSEPORT_CBPF, &fprog)
}
