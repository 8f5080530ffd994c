package weights

import (
	"fmt"
	"strconv"
	"strings"
)

// A .pth file is a pickle, and a pickle is a program: GLOBAL names any Python
// callable and REDUCE calls it. sgnas never runs anything from a checkpoint
// (gopickle builds plain Go values), but it also refuses, before decoding, any
// pickle that names a global outside the short allow-list of tensor and
// state-dict types below, so a malicious file is reported as what it is. The
// same pre-scan bounds every size a pickle claims (string and byte lengths,
// frames, big integers) by the bytes actually present, so gopickle — which
// allocates lengths before reading and decodes LONG4 in quadratic time — only
// ever sees a well-formed, bounded pickle.

// allowedGlobals are the only globals a checkpoint pickle may name.
var allowedGlobals = map[string]bool{
	"collections.OrderedDict":         true,
	"torch._utils._rebuild_tensor_v2": true,
	"torch._utils._rebuild_tensor":    true,
	"torch._utils._rebuild_parameter": true,
	"torch.FloatStorage":              true,
	"torch.HalfStorage":               true,
	"torch.DoubleStorage":             true,
	"torch.BFloat16Storage":           true,
	"torch.CharStorage":               true,
	"torch.ShortStorage":              true,
	"torch.IntStorage":                true,
	"torch.LongStorage":               true,
	"torch.ByteStorage":               true,
	"torch.BoolStorage":               true,
}

// RefusedError reports a checkpoint refused because its pickle references a
// global outside the allow-list (or another code-execution mechanism).
type RefusedError struct{ Reason string }

func (e *RefusedError) Error() string { return e.Reason }

func refuseGlobal(module, name string) error {
	module, name = clipText(module), clipText(name)
	return &RefusedError{fmt.Sprintf("pickle references global %s.%s (not a tensor/state-dict type; sgnas never runs code from checkpoints)", module, name)}
}

// Limits of the pre-scan. A checkpoint never needs integers wider than 64
// bytes (the legacy magic number is 10) nor more plain-dict items than this.
const (
	maxLongBytes  = 64
	maxNumberText = 64
	maxLineText   = 4096
	// maxMarkDepth bounds MARK nesting (a state dict nests about 4 deep).
	maxMarkDepth = 1000
	// maxDecodeCost bounds what gopickle may allocate for one pickle: each
	// opcode costs an estimate of the bytes decoding it allocates (a new
	// container or MARK about 256, other opcodes 32 plus their argument).
	maxDecodeCost = 1 << 30
)

// scan values: only strings are tracked by value (for STACK_GLOBAL); other
// kinds only so that the structure checks below stay conservative.
type svKind uint8

const (
	svOther svKind = iota
	svString
	svBytes
	svGlobal
)

type sval struct {
	kind svKind
	s    string
}

type pickleScanner struct {
	data  []byte
	pos   int
	stack []sval
	marks []int
	memo  map[uint64]sval
	cost  int64
}

// scanPickle checks one pickle at the start of data and returns its length
// (up to and including STOP). Errors say which opcode at which offset is
// wrong; a *RefusedError names a refused global.
func scanPickle(data []byte) (int, error) {
	s := &pickleScanner{data: data, memo: map[uint64]sval{}}
	for {
		if s.pos >= len(s.data) {
			return 0, fmt.Errorf("pickle ends at byte %d without a STOP opcode", s.pos)
		}
		at := s.pos
		op := s.data[s.pos]
		s.pos++
		switch op {
		case '(', ')', ']', '}', 0x8f, 't', 'l', 'd', 0x91, 0x85, 0x86, 0x87, 'R', 0x81, 0x92, 'o', 'i', 'Q':
			s.cost += 256
		default:
			s.cost += 32
		}
		if s.cost > maxDecodeCost {
			return 0, fmt.Errorf("pickle too complex: decoding it would allocate over %d MiB (at byte %d)", maxDecodeCost>>20, at)
		}
		done, err := s.step(op)
		if err != nil {
			if _, ok := err.(*RefusedError); ok {
				return 0, err
			}
			return 0, fmt.Errorf("pickle opcode 0x%02x at byte %d: %w", op, at, err)
		}
		if done {
			return s.pos, nil
		}
	}
}

func (s *pickleScanner) take(n uint64) ([]byte, error) {
	if n > uint64(len(s.data)-s.pos) {
		return nil, fmt.Errorf("argument of %d bytes but only %d bytes left", n, len(s.data)-s.pos)
	}
	b := s.data[s.pos : s.pos+int(n)]
	s.pos += int(n)
	s.cost += int64(n)
	return b, nil
}

func (s *pickleScanner) uint(n int) (uint64, error) {
	b, err := s.take(uint64(n))
	if err != nil {
		return 0, err
	}
	var v uint64
	for i := n - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v, nil
}

// line reads a newline-terminated argument of at most max bytes.
func (s *pickleScanner) line(max int) (string, error) {
	rest := s.data[s.pos:]
	i := strings.IndexByte(string(rest[:min(len(rest), max+1)]), '\n')
	if i < 0 {
		if len(rest) <= max {
			return "", fmt.Errorf("text argument not terminated by a newline")
		}
		return "", fmt.Errorf("text argument longer than %d bytes", max)
	}
	s.pos += i + 1
	return string(rest[:i]), nil
}

func (s *pickleScanner) push(v sval) { s.stack = append(s.stack, v) }

// base is the stack index of the topmost mark (0 when none).
func (s *pickleScanner) base() int {
	if len(s.marks) == 0 {
		return 0
	}
	return s.marks[len(s.marks)-1]
}

func (s *pickleScanner) pop(n int) ([]sval, error) {
	if len(s.stack)-s.base() < n {
		return nil, fmt.Errorf("stack underflow: needs %d items", n)
	}
	out := s.stack[len(s.stack)-n:]
	s.stack = s.stack[:len(s.stack)-n]
	return out, nil
}

func (s *pickleScanner) need(n int) error {
	if len(s.stack)-s.base() < n {
		return fmt.Errorf("stack underflow: needs %d items", n)
	}
	return nil
}

// popMark removes the items above the topmost mark and the mark.
func (s *pickleScanner) popMark() ([]sval, error) {
	if len(s.marks) == 0 {
		return nil, fmt.Errorf("no MARK on the stack")
	}
	b := s.marks[len(s.marks)-1]
	s.marks = s.marks[:len(s.marks)-1]
	items := s.stack[b:]
	s.stack = s.stack[:b]
	return items, nil
}

func (s *pickleScanner) memoize(i uint64) error {
	if err := s.need(1); err != nil {
		return err
	}
	s.memo[i] = s.stack[len(s.stack)-1]
	return nil
}

func (s *pickleScanner) get(i uint64) error {
	v, ok := s.memo[i]
	if !ok {
		return fmt.Errorf("memo entry %d was never stored", i)
	}
	s.push(v)
	return nil
}

func (s *pickleScanner) global(module, name string) error {
	if !allowedGlobals[module+"."+name] {
		return refuseGlobal(module, name)
	}
	s.push(sval{kind: svGlobal, s: module + "." + name})
	return nil
}

// checkKeys refuses dict keys gopickle cannot hash (bytes) and odd item lists.
func checkItems(items []sval) error {
	if len(items)%2 != 0 {
		return fmt.Errorf("odd number of dict items (%d)", len(items))
	}
	for i := 0; i < len(items); i += 2 {
		if items[i].kind == svBytes {
			return fmt.Errorf("bytes used as a dict key")
		}
	}
	return nil
}

func (s *pickleScanner) step(op byte) (done bool, err error) {
	other := sval{}
	switch op {
	case 0x80: // PROTO
		v, err := s.uint(1)
		if err != nil {
			return false, err
		}
		if v > 5 {
			return false, fmt.Errorf("unsupported pickle protocol %d", v)
		}
	case 0x95: // FRAME: the frame's bytes are the opcodes that follow
		v, err := s.uint(8)
		if err != nil {
			return false, err
		}
		if v > uint64(len(s.data)-s.pos) {
			return false, fmt.Errorf("frame of %d bytes but only %d bytes left", v, len(s.data)-s.pos)
		}
	case '.': // STOP
		if _, err := s.pop(1); err != nil {
			return false, err
		}
		return true, nil
	case '(': // MARK
		if len(s.marks) >= maxMarkDepth {
			return false, fmt.Errorf("MARKs nested over %d deep", maxMarkDepth)
		}
		s.marks = append(s.marks, len(s.stack))
	case '0': // POP (of an empty frame above a mark: the mark)
		if len(s.stack) == s.base() && len(s.marks) > 0 {
			_, err = s.popMark()
			return false, err
		}
		_, err = s.pop(1)
	case '1': // POP_MARK
		_, err = s.popMark()
	case '2': // DUP
		if err := s.need(1); err != nil {
			return false, err
		}
		s.push(s.stack[len(s.stack)-1])
	case 'N', 0x88, 0x89: // NONE, NEWTRUE, NEWFALSE
		s.push(other)
	case 'I', 'L', 'F': // INT, LONG, FLOAT (decimal text)
		t, err := s.line(maxNumberText)
		if err != nil {
			return false, fmt.Errorf("number: %w", err)
		}
		if op != 'F' {
			t = strings.TrimSuffix(t, "L")
			if _, ok := new(bigIntText).parse(t); !ok {
				return false, fmt.Errorf("bad integer %q", t)
			}
		} else if _, err := strconv.ParseFloat(t, 64); err != nil {
			return false, fmt.Errorf("bad float %q", t)
		}
		s.push(other)
	case 'J':
		_, err = s.take(4)
		s.push(other)
	case 'K':
		_, err = s.take(1)
		s.push(other)
	case 'M':
		_, err = s.take(2)
		s.push(other)
	case 'G': // BINFLOAT
		_, err = s.take(8)
		s.push(other)
	case 0x8a: // LONG1
		n, err := s.uint(1)
		if err != nil {
			return false, err
		}
		if n == 0 || n > maxLongBytes {
			return false, fmt.Errorf("LONG1 integer of %d bytes (a checkpoint needs 1 to %d)", n, maxLongBytes)
		}
		_, err = s.take(n)
		s.push(other)
		return false, err
	case 0x8b: // LONG4
		n, err := s.uint(4)
		if err != nil {
			return false, err
		}
		if n == 0 || n > maxLongBytes {
			return false, fmt.Errorf("LONG4 integer of %d bytes (a checkpoint needs 1 to %d)", n, maxLongBytes)
		}
		_, err = s.take(n)
		s.push(other)
		return false, err
	case 'S', 'V': // STRING (quoted), UNICODE: newline-terminated text
		t, err := s.line(len(s.data))
		if err != nil {
			return false, err
		}
		if op == 'S' && !(len(t) >= 2 && t[0] == t[len(t)-1] && (t[0] == '\'' || t[0] == '"')) {
			return false, fmt.Errorf("STRING argument is not quoted")
		}
		if op == 'S' {
			t = t[1 : len(t)-1]
		}
		s.push(sval{kind: svString, s: t})
	case 'T', 'X', 'U', 0x8c, 0x8d: // BINSTRING, BINUNICODE, SHORT_BINSTRING, SHORT_BINUNICODE, BINUNICODE8
		w := map[byte]int{'T': 4, 'X': 4, 'U': 1, 0x8c: 1, 0x8d: 8}[op]
		n, err := s.uint(w)
		if err != nil {
			return false, err
		}
		if op == 'T' && n >= 1<<31 {
			return false, fmt.Errorf("negative string length")
		}
		b, err := s.take(n)
		if err != nil {
			return false, err
		}
		s.push(sval{kind: svString, s: string(b)})
	case 'B', 'C', 0x8e, 0x96: // BINBYTES, SHORT_BINBYTES, BINBYTES8, BYTEARRAY8
		w := map[byte]int{'B': 4, 'C': 1, 0x8e: 8, 0x96: 8}[op]
		n, err := s.uint(w)
		if err != nil {
			return false, err
		}
		if _, err := s.take(n); err != nil {
			return false, err
		}
		s.push(sval{kind: svBytes})
	case ')', ']', '}', 0x8f: // EMPTY_TUPLE, EMPTY_LIST, EMPTY_DICT, EMPTY_SET
		s.push(other)
	case 't', 'l', 0x91: // TUPLE, LIST, FROZENSET
		if _, err := s.popMark(); err != nil {
			return false, err
		}
		s.push(other)
	case 'd': // DICT
		items, err := s.popMark()
		if err != nil {
			return false, err
		}
		if err := checkItems(items); err != nil {
			return false, err
		}
		s.push(other)
	case 0x85, 0x86, 0x87: // TUPLE1..3
		if _, err := s.pop(int(op - 0x84)); err != nil {
			return false, err
		}
		s.push(other)
	case 'a': // APPEND
		if err := s.need(2); err != nil {
			return false, err
		}
		_, err = s.pop(1)
	case 'e', 0x90: // APPENDS, ADDITEMS
		if _, err := s.popMark(); err != nil {
			return false, err
		}
		err = s.need(1)
	case 's': // SETITEM
		if err := s.need(3); err != nil {
			return false, err
		}
		items, _ := s.pop(2)
		err = checkItems(items)
	case 'u': // SETITEMS
		items, err := s.popMark()
		if err != nil {
			return false, err
		}
		if err := checkItems(items); err != nil {
			return false, err
		}
		err = s.need(1)
		return false, err
	case 'b': // BUILD
		if err := s.need(2); err != nil {
			return false, err
		}
		_, err = s.pop(1)
	case 'R', 0x81: // REDUCE, NEWOBJ: callable and args → result
		v, err := s.pop(2)
		if err != nil {
			return false, err
		}
		if v[0].kind != svGlobal {
			return false, fmt.Errorf("call of something that is not an allowed global")
		}
		s.push(other)
	case 0x92: // NEWOBJ_EX
		v, err := s.pop(3)
		if err != nil {
			return false, err
		}
		if v[0].kind != svGlobal {
			return false, fmt.Errorf("call of something that is not an allowed global")
		}
		s.push(other)
	case 'c', 'i': // GLOBAL, INST: "module\nname\n"
		module, err := s.line(maxLineText)
		if err != nil {
			return false, err
		}
		name, err := s.line(maxLineText)
		if err != nil {
			return false, err
		}
		if !allowedGlobals[module+"."+name] {
			return false, refuseGlobal(module, name)
		}
		if op == 'i' {
			if _, err := s.popMark(); err != nil {
				return false, err
			}
			s.push(other)
			return false, nil
		}
		return false, s.global(module, name)
	case 0x93: // STACK_GLOBAL
		v, err := s.pop(2)
		if err != nil {
			return false, err
		}
		if v[0].kind != svString || v[1].kind != svString {
			return false, fmt.Errorf("STACK_GLOBAL of a module or name that is not a string")
		}
		return false, s.global(v[0].s, v[1].s)
	case 'o': // OBJ
		items, err := s.popMark()
		if err != nil {
			return false, err
		}
		if len(items) == 0 || items[0].kind != svGlobal {
			return false, fmt.Errorf("OBJ of something that is not an allowed global")
		}
		s.push(other)
	case 'P': // PERSID
		if _, err := s.line(maxLineText); err != nil {
			return false, err
		}
		s.push(other)
	case 'Q': // BINPERSID
		if _, err := s.pop(1); err != nil {
			return false, err
		}
		s.push(other)
	case 'g', 'p': // GET, PUT: decimal index
		t, err := s.line(maxNumberText)
		if err != nil {
			return false, err
		}
		i, err := strconv.ParseUint(t, 10, 64)
		if err != nil {
			return false, fmt.Errorf("bad memo index %q", t)
		}
		if op == 'g' {
			return false, s.get(i)
		}
		return false, s.memoize(i)
	case 'h', 'q': // BINGET, BINPUT
		i, err := s.uint(1)
		if err != nil {
			return false, err
		}
		if op == 'h' {
			return false, s.get(i)
		}
		return false, s.memoize(i)
	case 'j', 'r': // LONG_BINGET, LONG_BINPUT
		i, err := s.uint(4)
		if err != nil {
			return false, err
		}
		if op == 'j' {
			return false, s.get(i)
		}
		return false, s.memoize(i)
	case 0x94: // MEMOIZE
		return false, s.memoize(uint64(len(s.memo)))
	case 0x82, 0x83, 0x84:
		return false, &RefusedError{"pickle uses the copyreg extension registry (EXT opcodes), which names code to run; sgnas never runs code from checkpoints"}
	case 0x97, 0x98:
		return false, fmt.Errorf("out-of-band buffers are not supported")
	default:
		return false, fmt.Errorf("unknown opcode")
	}
	return false, err
}

// bigIntText checks decimal integer text without building a big.Int.
type bigIntText struct{}

func (bigIntText) parse(t string) (string, bool) {
	u := strings.TrimPrefix(strings.TrimPrefix(t, "-"), "+")
	if u == "" {
		return "", false
	}
	for _, c := range u {
		if c < '0' || c > '9' {
			return "", false
		}
	}
	return u, true
}
