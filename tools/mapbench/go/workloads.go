package mapbench

import (
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// runStats collects what the ReadMostlyCache workload reports beyond ns/op.
type runStats struct {
	reads, writes         atomic.Int64
	timedReads, timedNano atomic.Int64
}

// bench is Go's benchmark shape (map_bench_test.go) with a stats sink added.
type bench struct {
	needsSwap bool // uses Swap / CompareAndSwap / CompareAndDelete (Go 1.20 API)
	setup     func(*testing.B, mapInterface)
	perG      func(b *testing.B, pb *testing.PB, i int, m mapInterface, st *runStats)
}

type workload struct {
	name string
	b    bench
}

func prime(m mapInterface, hits int) {
	for i := 0; i < hits; i++ {
		m.LoadOrStore(i, i)
	}
	// Prime the map to get it into a steady state.
	for i := 0; i < hits*2; i++ {
		m.Load(i % hits)
	}
}

func loadMostly(hits, misses int) bench {
	return bench{
		setup: func(_ *testing.B, m mapInterface) { prime(m, hits) },
		perG: func(b *testing.B, pb *testing.PB, i int, m mapInterface, _ *runStats) {
			for ; pb.Next(); i++ {
				m.Load(i % (hits + misses))
			}
		},
	}
}

func storeZero(_ *testing.B, m mapInterface) { m.LoadOrStore(0, 0) }

func swapMostly(hits, misses int) bench {
	return bench{
		needsSwap: true,
		setup:     func(_ *testing.B, m mapInterface) { prime(m, hits) },
		perG: func(b *testing.B, pb *testing.PB, i int, m mapInterface, _ *runStats) {
			s := m.(swapMap)
			for ; pb.Next(); i++ {
				if i%(hits+misses) < hits {
					v := i % (hits + misses)
					s.Swap(v, v)
				} else {
					s.Swap(i, i)
					m.Delete(i)
				}
			}
		},
	}
}

func compareAndSwapMostly(hits, misses int) bench {
	return bench{
		needsSwap: true,
		setup:     func(_ *testing.B, m mapInterface) { prime(m, hits) },
		perG: func(b *testing.B, pb *testing.PB, i int, m mapInterface, _ *runStats) {
			s := m.(swapMap)
			for ; pb.Next(); i++ {
				v := i
				if i%(hits+misses) < hits {
					v = i % (hits + misses)
				}
				s.CompareAndSwap(v, v, v)
			}
		},
	}
}

func compareAndDeleteMostly(hits, misses int) bench {
	return bench{
		needsSwap: true,
		setup:     func(_ *testing.B, m mapInterface) { prime(m, hits) },
		perG: func(b *testing.B, pb *testing.PB, i int, m mapInterface, _ *runStats) {
			s := m.(swapMap)
			for ; pb.Next(); i++ {
				v := i
				if i%(hits+misses) < hits {
					v = i % (hits + misses)
				}
				if s.CompareAndDelete(v, v) {
					m.Store(v, v)
				}
			}
		},
	}
}

// readMostlyCache is the article's cache: 1024 present keys, operation n
// stores key n%1024 when n%100 == 99 and loads it otherwise (99% load hits,
// 1% stores of existing keys). Every 16th run of 99 loads is timed.
func readMostlyCache() bench {
	const keys, chunk, sampleEvery = 1 << 10, 100, 16
	return bench{
		setup: func(_ *testing.B, m mapInterface) { prime(m, keys) },
		perG: func(b *testing.B, pb *testing.PB, i int, m mapInterface, st *runStats) {
			var reads, writes, timedReads, timedNano, chunks int64
			var t0 time.Time
			timing := false
			for ; pb.Next(); i++ {
				pos := i % chunk
				if pos == 0 {
					chunks++
					timing = chunks%sampleEvery == 0
					if timing {
						t0 = time.Now()
					}
				}
				if pos == chunk-1 {
					m.Store(i%keys, i)
					writes++
					continue
				}
				if _, ok := m.Load(i % keys); !ok {
					b.Errorf("cache miss for present key %v", i%keys)
				}
				reads++
				if timing && pos == chunk-2 {
					timedNano += time.Since(t0).Nanoseconds()
					timedReads += int64(pos + 1)
					timing = false
				}
			}
			st.reads.Add(reads)
			st.writes.Add(writes)
			st.timedReads.Add(timedReads)
			st.timedNano.Add(timedNano)
		},
	}
}

var workloads = []workload{
	{"LoadMostlyHits", loadMostly(1023, 1)},
	{"LoadMostlyMisses", loadMostly(1, 1023)},
	{"LoadOrStoreBalanced", bench{
		setup: func(_ *testing.B, m mapInterface) { prime(m, 128) },
		perG: func(b *testing.B, pb *testing.PB, i int, m mapInterface, _ *runStats) {
			const hits, misses = 128, 128
			for ; pb.Next(); i++ {
				j := i % (hits + misses)
				if j < hits {
					if _, ok := m.LoadOrStore(j, i); !ok {
						b.Fatalf("unexpected miss for %v", j)
					}
				} else {
					if v, loaded := m.LoadOrStore(i, i); loaded {
						b.Fatalf("failed to store %v: existing value %v", i, v)
					}
				}
			}
		},
	}},
	{"LoadOrStoreUnique", bench{
		perG: func(b *testing.B, pb *testing.PB, i int, m mapInterface, _ *runStats) {
			for ; pb.Next(); i++ {
				m.LoadOrStore(i, i)
			}
		},
	}},
	{"LoadOrStoreCollision", bench{
		setup: storeZero,
		perG: func(b *testing.B, pb *testing.PB, i int, m mapInterface, _ *runStats) {
			for ; pb.Next(); i++ {
				m.LoadOrStore(0, 0)
			}
		},
	}},
	{"LoadAndDeleteBalanced", bench{
		setup: func(_ *testing.B, m mapInterface) { prime(m, 128) },
		perG: func(b *testing.B, pb *testing.PB, i int, m mapInterface, _ *runStats) {
			const hits, misses = 128, 128
			for ; pb.Next(); i++ {
				j := i % (hits + misses)
				if j < hits {
					m.LoadAndDelete(j)
				} else {
					m.LoadAndDelete(i)
				}
			}
		},
	}},
	{"LoadAndDeleteUnique", bench{
		perG: func(b *testing.B, pb *testing.PB, i int, m mapInterface, _ *runStats) {
			for ; pb.Next(); i++ {
				m.LoadAndDelete(i)
			}
		},
	}},
	{"LoadAndDeleteCollision", bench{
		setup: storeZero,
		perG: func(b *testing.B, pb *testing.PB, i int, m mapInterface, _ *runStats) {
			for ; pb.Next(); i++ {
				m.LoadAndDelete(0)
			}
		},
	}},
	{"Range", bench{
		setup: func(_ *testing.B, m mapInterface) {
			for i := 0; i < 1<<10; i++ {
				m.Store(i, i)
			}
		},
		perG: func(b *testing.B, pb *testing.PB, i int, m mapInterface, _ *runStats) {
			for ; pb.Next(); i++ {
				m.Range(func(_, _ any) bool { return true })
			}
		},
	}},
	{"AdversarialAlloc", bench{
		perG: func(b *testing.B, pb *testing.PB, i int, m mapInterface, _ *runStats) {
			var stores, loadsSinceStore int64
			for ; pb.Next(); i++ {
				m.Load(i)
				if loadsSinceStore++; loadsSinceStore > stores {
					m.LoadOrStore(i, stores)
					loadsSinceStore = 0
					stores++
				}
			}
		},
	}},
	{"AdversarialDelete", bench{
		setup: func(_ *testing.B, m mapInterface) {
			for i := 0; i < 1<<10; i++ {
				m.Store(i, i)
			}
		},
		perG: func(b *testing.B, pb *testing.PB, i int, m mapInterface, _ *runStats) {
			const mapSize = 1 << 10
			for ; pb.Next(); i++ {
				m.Load(i)
				if i%mapSize == 0 {
					m.Range(func(k, _ any) bool {
						m.Delete(k)
						return false
					})
					m.Store(i, i)
				}
			}
		},
	}},
	{"DeleteCollision", bench{
		setup: storeZero,
		perG: func(b *testing.B, pb *testing.PB, i int, m mapInterface, _ *runStats) {
			for ; pb.Next(); i++ {
				m.Delete(0)
			}
		},
	}},
	{"SwapCollision", bench{
		needsSwap: true,
		setup:     storeZero,
		perG: func(b *testing.B, pb *testing.PB, i int, m mapInterface, _ *runStats) {
			s := m.(swapMap)
			for ; pb.Next(); i++ {
				s.Swap(0, 0)
			}
		},
	}},
	{"SwapMostlyHits", swapMostly(1023, 1)},
	{"SwapMostlyMisses", swapMostly(1, 1023)},
	{"CompareAndSwapCollision", bench{
		needsSwap: true,
		setup:     storeZero,
		perG: func(b *testing.B, pb *testing.PB, i int, m mapInterface, _ *runStats) {
			s := m.(swapMap)
			for pb.Next() {
				if s.CompareAndSwap(0, 0, 42) {
					s.CompareAndSwap(0, 42, 0)
				}
			}
		},
	}},
	{"CompareAndSwapNoExistingKey", bench{
		needsSwap: true,
		perG: func(b *testing.B, pb *testing.PB, i int, m mapInterface, _ *runStats) {
			s := m.(swapMap)
			for ; pb.Next(); i++ {
				if s.CompareAndSwap(i, 0, 0) {
					m.Delete(i)
				}
			}
		},
	}},
	{"CompareAndSwapValueNotEqual", bench{
		needsSwap: true,
		setup:     func(_ *testing.B, m mapInterface) { m.Store(0, 0) },
		perG: func(b *testing.B, pb *testing.PB, i int, m mapInterface, _ *runStats) {
			s := m.(swapMap)
			for ; pb.Next(); i++ {
				s.CompareAndSwap(0, 1, 2)
			}
		},
	}},
	{"CompareAndSwapMostlyHits", compareAndSwapMostly(1023, 1)},
	{"CompareAndSwapMostlyMisses", compareAndSwapMostly(1, 1023)},
	{"CompareAndDeleteCollision", bench{
		needsSwap: true,
		setup:     storeZero,
		perG: func(b *testing.B, pb *testing.PB, i int, m mapInterface, _ *runStats) {
			s := m.(swapMap)
			for ; pb.Next(); i++ {
				if s.CompareAndDelete(0, 0) {
					m.Store(0, 0)
				}
			}
		},
	}},
	{"CompareAndDeleteMostlyHits", compareAndDeleteMostly(1023, 1)},
	{"CompareAndDeleteMostlyMisses", compareAndDeleteMostly(1, 1023)},
	{"ReadMostlyCache", readMostlyCache()},
}

// benchMap is Go's benchMap for one (workload, system) pair: fresh map,
// setup, then b.RunParallel with goroutine g starting its counter at g*b.N.
func benchMap(b *testing.B, w workload, sys system) {
	m := sys.fresh()
	if w.b.needsSwap {
		if _, ok := m.(swapMap); !ok {
			b.Skipf("n/a: %s lacks Swap/CompareAndSwap/CompareAndDelete (they need Go 1.20; this is %s)",
				sys.name, runtime.Version())
		}
	}
	if w.b.setup != nil {
		w.b.setup(b, m)
	}
	var st runStats
	b.ResetTimer()
	start := time.Now()
	var i int64
	b.RunParallel(func(pb *testing.PB) {
		id := int(atomic.AddInt64(&i, 1) - 1)
		w.b.perG(b, pb, id*b.N, m, &st)
	})
	elapsed := time.Since(start)
	if writes := st.writes.Load(); writes > 0 || st.reads.Load() > 0 {
		if n := st.timedReads.Load(); n > 0 {
			b.ReportMetric(float64(st.timedNano.Load())/float64(n), "read_ns")
		}
		b.ReportMetric(float64(writes)/elapsed.Seconds(), "write_ops/s")
	}
}
