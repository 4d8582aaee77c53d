# cmake -DINPUT=<file> -DOUTPUT=<file.cc> -DSYMBOL=<name> -P embed_file.cmake
# Writes a .cc that defines `std::string_view <SYMBOL>()` returning the
# input's bytes, so the dashboard ships inside the library (no files to
# install, nothing fetched at run time).
file(READ "${INPUT}" hex HEX)
string(LENGTH "${hex}" hex_len)
math(EXPR size "${hex_len} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n" bytes "${bytes}")
file(WRITE "${OUTPUT}.tmp"
"// Generated from ${INPUT} by embed_file.cmake; do not edit.\n"
"#include <string_view>\n"
"namespace syncscope::http::internal {\n"
"namespace { constexpr unsigned char kData[] = {\n${bytes}0x00};\n}  // namespace\n"
"std::string_view ${SYMBOL}() {\n"
"  return std::string_view(reinterpret_cast<const char*>(kData), ${size});\n"
"}\n"
"}  // namespace syncscope::http::internal\n")
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUTPUT}.tmp")
