// Capture in a signal handler, unwind outside it (see captured_stack.h).
//
// This file uses libunwind's generic (remote-capable) library, not the
// local-only one: UNW_LOCAL_ONLY must stay undefined here.
#include "prof/captured_stack.h"

#include <dlfcn.h>
#include <libunwind.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <new>

#include "prof/unwind_frames.h"

// libunwind exports the table search its own ptrace and core-file back ends
// use, but declares it only in an internal header. Its signature has been
// the same since libunwind 1.0 (checked against 1.6.2 and 1.8).
extern "C" int UNW_OBJ(dwarf_search_unwind_table)(unw_addr_space_t as, unw_word_t ip,
                                                  unw_dyn_info_t* di, unw_proc_info_t* pi,
                                                  int need_unwind_info, void* arg);

namespace syncscope::prof::internal {
namespace {

// x86-64 ABI: a leaf function may keep data up to 128 bytes below sp.
constexpr std::uintptr_t kRedZone = 128;
// Copy and cache granularity; a multiple of 4 KiB never spans two pages of
// any page size Linux uses, so a chunk is readable or not as a whole.
constexpr std::uintptr_t kChunk = 4096;
constexpr int kMaxChunks = static_cast<int>(kStackCopyBytes / kChunk) + 1;

// 1 = process_vm_readv works on this process, -1 = refused (seccomp, old
// kernel), 0 = not probed yet. relaxed: an idempotent probe result.
std::atomic<int> g_vm_readv{0};

long read_self(pid_t tid, void* to, std::uintptr_t from, std::size_t len) noexcept {
  iovec local{to, len};
  iovec remote{reinterpret_cast<void*>(from), len};
  return ::syscall(SYS_process_vm_readv, tid, &local, 1UL, &remote, 1UL, 0UL);
}

bool vm_readv_works() noexcept {
  int state = g_vm_readv.load(std::memory_order_relaxed);
  if (state == 0) {
    const int saved = errno;
    std::uintptr_t probe = 0x5a5a, got = 0;
    const pid_t tid = static_cast<pid_t>(::syscall(SYS_gettid));
    state = read_self(tid, &got, reinterpret_cast<std::uintptr_t>(&probe), sizeof got) ==
                    static_cast<long>(sizeof got) && got == probe
                ? 1
                : -1;
    errno = saved;
    g_vm_readv.store(state, std::memory_order_relaxed);
  }
  return state > 0;
}

// Copies [begin, begin + capacity) chunk by chunk until the first unreadable
// chunk; returns the bytes copied. Async-signal-safe. Reads other frames'
// memory on purpose (ASan's red zones included, in the fallback).
__attribute__((no_sanitize("address"))) std::size_t copy_readable(unsigned char* to, std::uintptr_t begin, std::size_t capacity) noexcept {
  if (!vm_readv_works()) {
    // Without process_vm_readv only the chunk holding the stack pointer is
    // known to be mapped: copy up to its end.
    const std::uintptr_t end = (begin + kRedZone + kChunk) & ~(kChunk - 1);
    const std::size_t n = end - begin < capacity ? end - begin : capacity;
    std::memcpy(to, reinterpret_cast<const void*>(begin), n);
    return n;
  }
  iovec local{to, capacity};
  iovec remote[kMaxChunks];
  int chunks = 0;
  for (std::uintptr_t at = begin; at < begin + capacity && chunks < kMaxChunks; ++chunks) {
    const std::uintptr_t next = (at + kChunk) & ~(kChunk - 1);
    const std::uintptr_t end = next < begin + capacity ? next : begin + capacity;
    remote[chunks] = iovec{reinterpret_cast<void*>(at), end - at};
    at = end;
  }
  const long got = ::syscall(SYS_process_vm_readv, static_cast<pid_t>(::syscall(SYS_gettid)), &local,
                             1UL, remote, static_cast<unsigned long>(chunks), 0UL);
  return got > 0 ? static_cast<std::size_t>(got) : 0;
}

void copy_registers(const ucontext_t* uc, StackCopy* out) noexcept {
  const mcontext_t& m = uc->uc_mcontext;
#if defined(__x86_64__)
  // DWARF order: rax rdx rcx rbx rsi rdi rbp rsp r8..r15 rip.
  static constexpr int kFromGreg[kUnwindRegs] = {REG_RAX, REG_RDX, REG_RCX, REG_RBX, REG_RSI, REG_RDI,
                                                 REG_RBP, REG_RSP, REG_R8,  REG_R9,  REG_R10, REG_R11,
                                                 REG_R12, REG_R13, REG_R14, REG_R15, REG_RIP};
  for (int i = 0; i < kUnwindRegs; ++i) out->regs[i] = static_cast<std::uintptr_t>(m.gregs[kFromGreg[i]]);
  out->pc = out->regs[UNW_X86_64_RIP];
  out->sp = out->regs[UNW_X86_64_RSP];
#elif defined(__aarch64__)
  for (int i = 0; i < 31; ++i) out->regs[i] = static_cast<std::uintptr_t>(m.regs[i]);
  out->regs[31] = static_cast<std::uintptr_t>(m.sp);
  out->regs[32] = static_cast<std::uintptr_t>(m.pc);
  out->pc = out->regs[32];
  out->sp = out->regs[31];
#endif
}

// ---- unwinding over the copy -------------------------------------------

constexpr int kCachedPages = 8;

struct UnwindSource {
  const StackCopy* copy;
  const unsigned char* stack;
  pid_t tid;                       // reader thread for process_vm_readv
  bool use_vm_readv;
  std::uintptr_t module_begin = 0;  // the module of the last lookup
  std::uintptr_t module_end = 0;
  std::uintptr_t page_base[kCachedPages] = {};  // 0 = empty
  unsigned char page[kCachedPages][kChunk];
  int next_victim = 0;
};

// Reads one word of a loaded module (unwind tables, code).
__attribute__((no_sanitize("address"))) bool read_module_word(UnwindSource& src, std::uintptr_t addr, unw_word_t* value) {
  if (addr < src.module_begin || addr >= src.module_end) {
    dl_find_object found;
    if (_dl_find_object(reinterpret_cast<void*>(addr), &found) != 0) return false;
    src.module_begin = reinterpret_cast<std::uintptr_t>(found.dlfo_map_start);
    src.module_end = reinterpret_cast<std::uintptr_t>(found.dlfo_map_end);
  }
  const std::uintptr_t end = src.module_end;
  if (addr > end || end - addr < sizeof(unw_word_t)) return false;
  if (!src.use_vm_readv) {
    // The module may be unloaded between the lookup and this read; without
    // process_vm_readv that window is accepted (documented in the header).
    std::memcpy(value, reinterpret_cast<const void*>(addr), sizeof *value);
    return true;
  }
  const std::uintptr_t base = addr & ~(kChunk - 1);
  if ((addr & (kChunk - 1)) + sizeof(unw_word_t) > kChunk) {  // straddles two chunks
    return read_self(src.tid, value, addr, sizeof *value) == static_cast<long>(sizeof *value);
  }
  int slot = -1;
  for (int i = 0; i < kCachedPages; ++i)
    if (src.page_base[i] == base) slot = i;
  if (slot < 0) {
    slot = src.next_victim;
    src.next_victim = (src.next_victim + 1) % kCachedPages;
    src.page_base[slot] = 0;
    if (read_self(src.tid, src.page[slot], base, kChunk) != static_cast<long>(kChunk)) return false;
    src.page_base[slot] = base;
  }
  std::memcpy(value, src.page[slot] + (addr - base), sizeof *value);
  return true;
}

int access_mem(unw_addr_space_t, unw_word_t addr, unw_word_t* value, int write, void* arg) {
  auto& src = *static_cast<UnwindSource*>(arg);
  if (write) return -UNW_EREADONLYREG;
  const StackCopy& c = *src.copy;
  // Written without addr + 8, which wraps for the garbage addresses an
  // unwind through a stale frame can compute.
  if (addr >= c.begin && c.size >= sizeof(unw_word_t) && addr - c.begin <= c.size - sizeof(unw_word_t)) {
    std::memcpy(value, src.stack + (addr - c.begin), sizeof *value);
    return 0;
  }
  return read_module_word(src, addr, value) ? 0 : -UNW_EINVAL;
}

int access_reg(unw_addr_space_t, unw_regnum_t reg, unw_word_t* value, int write, void* arg) {
  const StackCopy& c = *static_cast<UnwindSource*>(arg)->copy;
  if (write || reg < 0 || reg >= kUnwindRegs) return -UNW_EBADREG;
  *value = c.regs[reg];
  return 0;
}

int access_fpreg(unw_addr_space_t, unw_regnum_t, unw_fpreg_t*, int, void*) { return -UNW_EBADREG; }
int resume(unw_addr_space_t, unw_cursor_t*, void*) { return -UNW_EINVAL; }
int get_dyn_info_list_addr(unw_addr_space_t, unw_word_t*, void*) { return -UNW_ENOINFO; }
void put_unwind_info(unw_addr_space_t, unw_proc_info_t*, void*) {}  // libunwind's pool owns it

// Reads a DW_EH_PE-encoded value of .eh_frame_hdr (only the encodings
// linkers emit there: udata4/sdata4, absolute, pc- or data-relative).
bool read_encoded(UnwindSource& src, std::uintptr_t& at, unsigned char enc, std::uintptr_t hdr,
                  std::uintptr_t* out) {
  unw_word_t word = 0;
  if (!read_module_word(src, at, &word)) return false;
  std::uint64_t raw = 0;
  std::memcpy(&raw, &word, sizeof raw);
  std::uintptr_t v;
  switch (enc & 0x0f) {
    case 0x03: v = static_cast<std::uint32_t>(raw); at += 4; break;                              // udata4
    case 0x0b: v = static_cast<std::uintptr_t>(static_cast<std::int64_t>(static_cast<std::int32_t>(raw))); at += 4; break;  // sdata4
    default: return false;
  }
  switch (enc & 0x70) {
    case 0x00: break;                           // absolute
    case 0x10: v += at - 4; break;              // pcrel (relative to the field)
    case 0x30: v += hdr; break;                 // datarel (relative to the header)
    default: return false;
  }
  *out = v;
  return true;
}

int find_proc_info(unw_addr_space_t as, unw_word_t ip, unw_proc_info_t* pi, int need_unwind_info,
                   void* arg) {
  auto& src = *static_cast<UnwindSource*>(arg);
  dl_find_object found;
  if (_dl_find_object(reinterpret_cast<void*>(ip), &found) != 0 || found.dlfo_eh_frame == nullptr)
    return -UNW_ENOINFO;
  // .eh_frame_hdr: version, eh_frame_ptr_enc, fde_count_enc, table_enc,
  // eh_frame_ptr, fde_count, then the sorted (initial pc, fde) table.
  const auto hdr = reinterpret_cast<std::uintptr_t>(found.dlfo_eh_frame);
  unw_word_t head = 0;
  if (access_mem(as, hdr, &head, 0, &src) != 0) return -UNW_ENOINFO;
  unsigned char b[4];
  std::memcpy(b, &head, 4);
  if (b[0] != 1 || b[3] != 0x3b) return -UNW_ENOINFO;  // version 1, datarel|sdata4 table
  std::uintptr_t at = hdr + 4, eh_frame = 0, fde_count = 0;
  if (!read_encoded(src, at, b[1], hdr, &eh_frame) || !read_encoded(src, at, b[2], hdr, &fde_count))
    return -UNW_ENOINFO;
  unw_dyn_info_t di;
  std::memset(&di, 0, sizeof di);
  di.format = UNW_INFO_FORMAT_REMOTE_TABLE;
  di.start_ip = reinterpret_cast<unw_word_t>(found.dlfo_map_start);
  di.end_ip = reinterpret_cast<unw_word_t>(found.dlfo_map_end);
  di.u.rti.segbase = hdr;
  di.u.rti.table_data = at;
  di.u.rti.table_len = fde_count * 8 / sizeof(unw_word_t);  // 8-byte entries, counted in words
  return UNW_OBJ(dwarf_search_unwind_table)(as, ip, &di, pi, need_unwind_info, arg);
}

unw_accessors_t make_accessors() {
  unw_accessors_t a;
  std::memset(&a, 0, sizeof a);
  a.find_proc_info = find_proc_info;
  a.put_unwind_info = put_unwind_info;
  a.get_dyn_info_list_addr = get_dyn_info_list_addr;
  a.access_mem = access_mem;
  a.access_reg = access_reg;
  a.access_fpreg = access_fpreg;
  a.resume = resume;
  a.get_proc_name = nullptr;
  return a;
}

}  // namespace

void capture_stack_copy(const ucontext_t* context, StackCopy* out, unsigned char* buffer,
                        std::size_t capacity) noexcept {
  const int saved_errno = errno;
  out->valid = false;
  out->size = 0;
  copy_registers(context, out);
  out->begin = out->sp > kRedZone ? out->sp - kRedZone : out->sp;
  if (buffer != nullptr && capacity > 0) {
    out->size = static_cast<std::uint32_t>(copy_readable(buffer, out->begin, capacity));
  }
  out->valid = true;
  errno = saved_errno;
}

__attribute__((noinline)) void capture_own_stack_copy(StackCopy* out, unsigned char* buffer,
                                                      std::size_t capacity) noexcept {
  ucontext_t context;
  if (getcontext(&context) != 0) {
    out->valid = false;
    return;
  }
  capture_stack_copy(&context, out, buffer, capacity);
  asm volatile("" ::: "memory");  // keep this frame (no tail call): the copy describes it
}

bool copy_stack_of_blocked_thread(std::uintptr_t sp, std::uintptr_t pc, StackCopy* out,
                                  unsigned char* buffer, std::size_t capacity) noexcept {
  out->valid = false;
  if (!vm_readv_works() || buffer == nullptr || capacity == 0 || sp <= kRedZone) return false;
  std::memset(out->regs, 0, sizeof out->regs);
#if defined(__x86_64__)
  out->regs[UNW_X86_64_RSP] = sp;
  out->regs[UNW_X86_64_RIP] = pc;
#elif defined(__aarch64__)
  out->regs[31] = sp;
  out->regs[32] = pc;
#endif
  out->sp = sp;
  out->pc = pc;
  out->begin = sp - kRedZone;
  out->size = static_cast<std::uint32_t>(copy_readable(buffer, out->begin, capacity));
  out->valid = out->size > kRedZone;
  return out->valid;
}

struct StackUnwinder {
  unw_addr_space_t as;
  UnwindSource* source;  // mmap'ed: 32 KiB of page cache is too much for a small thread's stack
};

namespace {

int run_unwind(StackUnwinder& u, const StackCopy& copy, const unsigned char* buffer, std::uintptr_t* pc,
               std::uintptr_t* sp, int max_frames) noexcept {
  UnwindSource& src = *u.source;
  src.copy = &copy;
  src.stack = buffer;
  src.tid = static_cast<pid_t>(::syscall(SYS_gettid));
  src.use_vm_readv = vm_readv_works();
  src.module_begin = src.module_end = 0;
  std::memset(src.page_base, 0, sizeof src.page_base);
  src.next_victim = 0;
  unw_cursor_t cursor;
  if (unw_init_remote(&cursor, u.as, &src) != 0) return 0;
  return collect_frames(&cursor, pc, sp, max_frames);
}

void destroy(StackUnwinder* u) noexcept {
  if (u->source != nullptr) ::munmap(u->source, sizeof(UnwindSource));
  if (u->as != nullptr) unw_destroy_addr_space(u->as);
  delete u;
}

}  // namespace

StackUnwinder* create_stack_unwinder(bool cache_unwind_info) noexcept {
  static unw_accessors_t accessors = make_accessors();
  auto* u = new (std::nothrow) StackUnwinder{nullptr, nullptr};
  if (u == nullptr) return nullptr;
  u->as = unw_create_addr_space(&accessors, 0);
  void* p = ::mmap(nullptr, sizeof(UnwindSource), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  u->source = p == MAP_FAILED ? nullptr : new (p) UnwindSource{};
  if (u->as == nullptr || u->source == nullptr) {
    destroy(u);
    return nullptr;
  }
  unw_set_caching_policy(u->as, cache_unwind_info ? UNW_CACHE_GLOBAL : UNW_CACHE_NONE);
  // libunwind initializes itself on its first unwind: do it now, while
  // allocating is still fine.
  StackCopy none;
  std::memset(none.regs, 0, sizeof none.regs);
  none.valid = true;
  std::uintptr_t pc;
  run_unwind(*u, none, nullptr, &pc, nullptr, 1);
  return u;
}

void flush_unwind_cache(StackUnwinder* unwinder) noexcept {
  if (unwinder != nullptr && unwinder->as != nullptr) unw_flush_cache(unwinder->as, 0, 0);
}

int unwind_stack_copy(const StackCopy& copy, const unsigned char* buffer, std::uintptr_t* pc,
                      std::uintptr_t* sp, int max_frames, StackUnwinder* unwinder) noexcept {
  if (!copy.valid || pc == nullptr || max_frames <= 0) return 0;
  if (unwinder != nullptr) return run_unwind(*unwinder, copy, buffer, pc, sp, max_frames);
  StackUnwinder* own = create_stack_unwinder();
  if (own == nullptr) return 0;
  const int n = run_unwind(*own, copy, buffer, pc, sp, max_frames);
  destroy(own);
  return n;
}

}  // namespace syncscope::prof::internal
