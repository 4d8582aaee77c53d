// RecordPool: recycles the memory of task records. A tracked task's record
// (one TaskRecord block) is allocated by
// the spawning thread and, in the common case, released by the worker that
// ran it: through malloc that is a cross-thread free per task, which defeats
// glibc's per-thread caches and costs two trips through the allocation
// hooks. The pool hands released blocks back to spawners instead.
//
// Contract: take_record_block() returns kRecordBlockSize bytes aligned for
// any type (or throws std::bad_alloc); give_record_block() accepts any
// block take_record_block() returned, from any thread, at any time
// (including after the spawning thread exited). Both are lock-free.
//
// Implementation notes:
//
//   shared stack (one word):  [count:16 | top pointer:48] -> b -> b -> null
//   thread cache (spawner):   head -> b -> b -> null   (taken whole from the stack)
//
// - give pushes one block onto the shared stack with a compare-exchange,
//   unless the stack already holds kMaxSharedBlocks (then the block is freed).
// - take pops from the calling thread's cache; when the cache is empty it
//   takes the whole shared stack with one exchange. No single-block pop from
//   the shared stack exists, so there is no ABA: a push links to whatever
//   the top is when its compare-exchange succeeds.
// - Bound: the shared stack holds at most kMaxSharedBlocks blocks and each
//   thread cache at most what one exchange took, so the pool keeps at most
//   kMaxSharedBlocks * (1 + spawning threads) blocks. A thread's cache is
//   freed when the thread exits.
//
// When not to use: for anything but task records; the block size is fixed.
#pragma once

#include <cstddef>
#include <new>

#include "task/task_record.h"

namespace syncscope::task::internal {

// Room for a TaskRecord, in whole cache lines.
inline constexpr std::size_t kRecordBlockSize = (sizeof(TaskRecord) + 63) / 64 * 64;
static_assert(alignof(TaskRecord) <= alignof(std::max_align_t), "operator new's alignment suffices");
// Most blocks kept on the shared stack (about 900 bytes each on x86-64: at most
// about 1 MiB shared, and as much again in each spawning thread's cache).
// Smaller bounds overflowed in a burst of 20000 queued tasks (task_spawn_count)
// and sent a third of the records back through malloc.
inline constexpr std::size_t kMaxSharedBlocks = 1024;

void* take_record_block();
void give_record_block(void* block) noexcept;

}  // namespace syncscope::task::internal
