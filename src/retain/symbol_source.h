// Where names come from: the symbols of the modules of the process a memory
// image shows. Two implementations: this process (its loader's view, dladdr
// and the Symbolizer; block_labels.cc), and a core file's modules read from
// the files on disk through libdwfl (core_symbols.h). Block labels ask it
// for the type behind a vtable pointer and the function behind a code
// pointer, so naming runs unchanged over either image.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "syncscope/prof/symbolizer.h"

namespace syncscope::retain::internal {

class SymbolSource {
 public:
  virtual ~SymbolSource() = default;
  // The demangled C++ type whose vtable `vptr` points into ("" when it is
  // none: not a vtable, or no symbols for its module).
  virtual std::string type_from_vtable(std::uintptr_t vptr) const = 0;
  // The demangled function containing code address `pc` ("" when unknown).
  virtual std::string function_at(std::uintptr_t pc) const = 0;
  // The frames of code address `pc` (inlined ones first when known), with
  // file and line where debug information says; as prof::Symbolizer.
  virtual std::vector<prof::SymbolFrame> symbolize(std::uintptr_t pc) const = 0;
};

// This process. Thread-safe; lives forever.
const SymbolSource& live_symbol_source();

}  // namespace syncscope::retain::internal
