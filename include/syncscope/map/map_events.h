// A process-wide hook through which the maps report rare structural events
// (promotions, dirty rebuilds, compactions, clears) to whoever listens — the
// trace recorder of `task` installs one. `map` itself depends on nothing
// above it (DESIGN §1), so the listener is a plain function pointer.
#pragma once

#include <atomic>
#include <cstddef>
#include <string_view>

namespace syncscope::map {

enum class MapEventKind {
  kPromotion,     // ReadMostlyMap: dirty map became the read snapshot
  kDirtyRebuild,  // ReadMostlyMap: dirty map rebuilt from the read snapshot
  kCompaction,    // ReadMostlyMap: deleted entries dropped from the snapshot
  kClear,         // any map: clear()
};

struct MapEvent {
  MapEventKind kind;
  std::string_view map_name;  // "" for unnamed maps; valid during the call only
  std::size_t entries;        // entries in the table the event produced
};

// Called on the thread that caused the event, sometimes with the map's
// internal mutex held: a listener must be quick, must not call back into the
// same map, and must not throw.
using MapEventListener = void (*)(const MapEvent&) noexcept;

namespace internal {
inline std::atomic<MapEventListener> g_event_listener{nullptr};
}  // namespace internal

// Installs (or, with nullptr, removes) the listener. Returns the previous one.
inline MapEventListener set_map_event_listener(MapEventListener listener) noexcept {
  // acq_rel: the listener's code/data published before installing it is
  // visible to the threads that load it with acquire in emit_map_event.
  return internal::g_event_listener.exchange(listener, std::memory_order_acq_rel);
}

inline void emit_map_event(const MapEvent& event) noexcept {
  // acquire: pairs with the exchange in set_map_event_listener.
  if (MapEventListener l = internal::g_event_listener.load(std::memory_order_acquire)) l(event);
}

const char* to_string(MapEventKind kind) noexcept;

}  // namespace syncscope::map
