#include "syncscope/map/map_events.h"

namespace syncscope::map {

const char* to_string(MapEventKind kind) noexcept {
  switch (kind) {
    case MapEventKind::kPromotion: return "promotion";
    case MapEventKind::kDirtyRebuild: return "dirty_rebuild";
    case MapEventKind::kCompaction: return "compaction";
    case MapEventKind::kClear: return "clear";
  }
  return "unknown";
}

}  // namespace syncscope::map
