// Package mapbench is the Go side of syncscope-mapbench: Go's own sync.Map
// benchmark workloads (src/sync/map_bench_test.go) run over sync.Map and the
// RWMutex reference map of src/sync/map_reference_test.go, under the names the
// C++ driver uses (go_sync_map, go_rwmutex_map). The driver runs
//
//	go test -run '^$' -bench 'BenchmarkMap/<workloads>/<systems>' -benchmem -cpu 1,2,...
//
// in this directory and merges the figures with its own.
package mapbench

import "sync"

// mapInterface is the interface Go's sync package benchmarks use
// (map_reference_test.go), for the operations every Go version has.
type mapInterface interface {
	Load(any) (any, bool)
	Store(key, value any)
	LoadOrStore(key, value any) (actual any, loaded bool)
	LoadAndDelete(key any) (value any, loaded bool)
	Delete(any)
	Range(func(key, value any) (shouldContinue bool))
}

// swapMap holds the operations Go 1.20 added to sync.Map. The Swap,
// CompareAndSwap and CompareAndDelete workloads skip ("n/a") a map that lacks
// them: sync.Map before Go 1.20.
type swapMap interface {
	Swap(key, value any) (previous any, loaded bool)
	CompareAndSwap(key, old, new any) (swapped bool)
	CompareAndDelete(key, old any) (deleted bool)
}

// system is one map implementation under a driver-facing name.
type system struct {
	name  string
	fresh func() mapInterface
}

var systems = []system{
	{"go_sync_map", func() mapInterface { return newSyncMap() }},
	{"go_rwmutex_map", func() mapInterface { return &RWMutexMap{} }},
}

// RWMutexMap is Go's reference implementation (map_reference_test.go),
// including the Swap/CompareAndSwap/CompareAndDelete methods Go 1.20 added.
type RWMutexMap struct {
	mu    sync.RWMutex
	dirty map[any]any
}

func (m *RWMutexMap) Load(key any) (value any, ok bool) {
	m.mu.RLock()
	value, ok = m.dirty[key]
	m.mu.RUnlock()
	return
}

func (m *RWMutexMap) Store(key, value any) {
	m.mu.Lock()
	if m.dirty == nil {
		m.dirty = make(map[any]any)
	}
	m.dirty[key] = value
	m.mu.Unlock()
}

func (m *RWMutexMap) LoadOrStore(key, value any) (actual any, loaded bool) {
	m.mu.Lock()
	actual, loaded = m.dirty[key]
	if !loaded {
		actual = value
		if m.dirty == nil {
			m.dirty = make(map[any]any)
		}
		m.dirty[key] = value
	}
	m.mu.Unlock()
	return actual, loaded
}

func (m *RWMutexMap) Swap(key, value any) (previous any, loaded bool) {
	m.mu.Lock()
	if m.dirty == nil {
		m.dirty = make(map[any]any)
	}
	previous, loaded = m.dirty[key]
	m.dirty[key] = value
	m.mu.Unlock()
	return
}

func (m *RWMutexMap) LoadAndDelete(key any) (value any, loaded bool) {
	m.mu.Lock()
	value, loaded = m.dirty[key]
	if !loaded {
		m.mu.Unlock()
		return nil, false
	}
	delete(m.dirty, key)
	m.mu.Unlock()
	return value, loaded
}

func (m *RWMutexMap) Delete(key any) {
	m.mu.Lock()
	delete(m.dirty, key)
	m.mu.Unlock()
}

func (m *RWMutexMap) CompareAndSwap(key, old, new any) (swapped bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.dirty == nil {
		return false
	}
	value, loaded := m.dirty[key]
	if loaded && value == old {
		m.dirty[key] = new
		return true
	}
	return false
}

func (m *RWMutexMap) CompareAndDelete(key, old any) (deleted bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.dirty == nil {
		return false
	}
	value, loaded := m.dirty[key]
	if loaded && value == old {
		delete(m.dirty, key)
		return true
	}
	return false
}

func (m *RWMutexMap) Range(f func(key, value any) (shouldContinue bool)) {
	m.mu.RLock()
	keys := make([]any, 0, len(m.dirty))
	for k := range m.dirty {
		keys = append(keys, k)
	}
	m.mu.RUnlock()

	for _, k := range keys {
		v, ok := m.Load(k)
		if !ok {
			continue
		}
		if !f(k, v) {
			break
		}
	}
}

// syncMap is sync.Map itself. From Go 1.20 its promoted Swap, CompareAndSwap
// and CompareAndDelete make it a swapMap; before that it is not one, and the
// workloads that need those operations report it as n/a.
type syncMap struct{ sync.Map }

func newSyncMap() *syncMap { return &syncMap{} }
