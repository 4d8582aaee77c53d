// See program_cxx_runtime.h. The entry points are looked up at load and
// called only from the out-of-memory path of operator new.
#include "prof/hooks/program_cxx_runtime.h"

#include <dlfcn.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>

namespace syncscope::prof::internal {
namespace {

// One entry point of the program's libstdc++, found by its mangled name in
// `handle`'s scope. Only a found address is kept: a C program may dlopen a
// C++ library later, so "not found" is asked again at the next failure.
class RuntimeSymbol {
 public:
  enum class Scope { kGlobal, kAfterThisObject };  // RTLD_DEFAULT, RTLD_NEXT
  constexpr RuntimeSymbol(Scope scope, const char* name) : scope_(scope), name_(name) {}

  void* get() noexcept {
    // relaxed: the pointer is the whole message (code of an object that is
    // already loaded and stays so); two threads that both look it up store
    // the same value.
    void* p = address_.load(std::memory_order_relaxed);
    if (p == nullptr) {
      p = dlsym(scope_ == Scope::kGlobal ? RTLD_DEFAULT : RTLD_NEXT, name_);
      if (p != nullptr) address_.store(p, std::memory_order_relaxed);
    }
    return p;
  }

 private:
  const Scope scope_;
  const char* const name_;  // mangled name of a function libstdc++.so.6 exports
  std::atomic<void*> address_{nullptr};  // nullptr until found
};

// std::get_new_handler() and std::__throw_bad_alloc(): only libstdc++ defines
// them, so the first definition in the global scope is the program's.
constinit RuntimeSymbol g_get_new_handler{RuntimeSymbol::Scope::kGlobal, "_ZSt15get_new_handlerv"};
constinit RuntimeSymbol g_throw_bad_alloc{RuntimeSymbol::Scope::kGlobal, "_ZSt17__throw_bad_allocv"};
// The nothrow forms of operator new are defined by the hooks too: the next
// definition after them (RTLD_NEXT) is libstdc++'s.
constinit RuntimeSymbol g_nothrow_new{RuntimeSymbol::Scope::kAfterThisObject, "_ZnwmRKSt9nothrow_t"};
constinit RuntimeSymbol g_nothrow_aligned_new{RuntimeSymbol::Scope::kAfterThisObject, "_ZnwmSt11align_val_tRKSt9nothrow_t"};

// Looks each entry point up once at load. Then a failure later, even one in
// a dl_iterate_phdr callback (the profiler lists modules from one, with the
// loader's write lock held), finds them cached: dlsym takes the loader's
// load lock, and dlopen takes those two locks in the other order. Only an
// entry point missing at load (a C program that dlopens a C++ library
// later) is looked up on the failure path.
__attribute__((constructor)) void look_up_at_load() noexcept {
  for (RuntimeSymbol* symbol : {&g_get_new_handler, &g_throw_bad_alloc, &g_nothrow_new, &g_nothrow_aligned_new}) {
    (void)symbol->get();
  }
}

}  // namespace

std::new_handler program_new_handler() noexcept {
  void* get = g_get_new_handler.get();
  return get == nullptr ? nullptr : reinterpret_cast<std::new_handler (*)() noexcept>(get)();
}

void throw_program_bad_alloc() {
  if (void* raise = g_throw_bad_alloc.get(); raise != nullptr) {
    reinterpret_cast<void (*)()>(raise)();  // throws; returns only if libstdc++ broke its contract
  }
  static constexpr char kMessage[] =
      "syncscope: operator new is out of memory and no C++ runtime is loaded to throw std::bad_alloc\n";
  [[maybe_unused]] const ssize_t written = write(STDERR_FILENO, kMessage, sizeof kMessage - 1);
  std::abort();
}

void* program_nothrow_new(std::size_t size, std::size_t alignment) noexcept {
  if (alignment == 0) {
    void* f = g_nothrow_new.get();
    return f == nullptr ? nullptr
                        : reinterpret_cast<void* (*)(std::size_t, const std::nothrow_t&) noexcept>(f)(
                              size, std::nothrow_t{});
  }
  void* f = g_nothrow_aligned_new.get();
  return f == nullptr ? nullptr
                      : reinterpret_cast<void* (*)(std::size_t, std::align_val_t, const std::nothrow_t&) noexcept>(
                            f)(size, static_cast<std::align_val_t>(alignment), std::nothrow_t{});
}

}  // namespace syncscope::prof::internal
