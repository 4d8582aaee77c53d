package mapbench

// Test-only addition to the Go harness (tests/tools/mapbench copies it next to
// the harness sources in a temporary directory): runs the harness's own
// workloads over a counting map and prints, per phase and operation kind, the
// calls, the calls that found their key, and the distinct keys touched.
// mapbench_go_output_test compares these lines with the same counts taken
// from the C++ port of the workloads.

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
)

type opCount struct {
	calls, found int
	keys         map[any]bool
}

// countingMap wraps the harness's RWMutexMap; single goroutine (-cpu 1).
type countingMap struct {
	RWMutexMap
	counts map[string]*opCount
}

func (c *countingMap) note(kind string, key any, found bool) {
	oc := c.counts[kind]
	if oc == nil {
		oc = &opCount{keys: map[any]bool{}}
		c.counts[kind] = oc
	}
	oc.calls++
	if found {
		oc.found++
	}
	oc.keys[key] = true
}

func (c *countingMap) Load(k any) (any, bool) {
	v, ok := c.RWMutexMap.Load(k)
	c.note("load", k, ok)
	return v, ok
}
func (c *countingMap) Store(k, v any) { c.RWMutexMap.Store(k, v); c.note("store", k, false) }
func (c *countingMap) LoadOrStore(k, v any) (any, bool) {
	a, loaded := c.RWMutexMap.LoadOrStore(k, v)
	c.note("load_or_store", k, loaded)
	return a, loaded
}
func (c *countingMap) LoadAndDelete(k any) (any, bool) {
	v, loaded := c.RWMutexMap.LoadAndDelete(k)
	c.note("load_and_delete", k, loaded)
	return v, loaded
}
func (c *countingMap) Delete(k any) { c.RWMutexMap.Delete(k); c.note("delete", k, false) }
func (c *countingMap) Swap(k, v any) (any, bool) {
	p, loaded := c.RWMutexMap.Swap(k, v)
	c.note("swap", k, loaded)
	return p, loaded
}
func (c *countingMap) CompareAndSwap(k, o, n any) bool {
	ok := c.RWMutexMap.CompareAndSwap(k, o, n)
	c.note("compare_and_swap", k, ok)
	return ok
}
func (c *countingMap) CompareAndDelete(k, o any) bool {
	ok := c.RWMutexMap.CompareAndDelete(k, o)
	c.note("compare_and_delete", k, ok)
	return ok
}

func printCounts(workload, phase string, counts map[string]*opCount) {
	kinds := make([]string, 0, len(counts))
	for k := range counts {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		oc := counts[k]
		fmt.Printf("opcount %s %s %s %d %d %d\n", workload, phase, k, oc.calls, oc.found, len(oc.keys))
	}
}

// BenchmarkOpCount: run with -benchtime=<N>x -cpu 1; prints the counts of the
// b.N == N run (Go first calls every benchmark once with b.N = 1).
func BenchmarkOpCount(b *testing.B) {
	want := strings.Split(os.Getenv("OPCOUNT_WORKLOADS"), ",")
	for _, w := range workloads {
		for _, name := range want {
			if w.name != name {
				continue
			}
			m := &countingMap{counts: map[string]*opCount{}}
			if w.b.setup != nil {
				w.b.setup(b, m)
			}
			setup := m.counts
			m.counts = map[string]*opCount{}
			var st runStats
			var id int64
			b.RunParallel(func(pb *testing.PB) {
				w.b.perG(b, pb, int(atomic.AddInt64(&id, 1)-1)*b.N, m, &st)
			})
			fmt.Printf("opcount-run %s N=%d\n", w.name, b.N)
			printCounts(w.name, fmt.Sprintf("setup@%d", b.N), setup)
			printCounts(w.name, fmt.Sprintf("timed@%d", b.N), m.counts)
		}
	}
}
