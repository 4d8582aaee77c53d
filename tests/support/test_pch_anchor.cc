// The one source file of syncscope_test_pch (tests/CMakeLists.txt): the
// target exists to build the precompiled header every test executable
// reuses, and CMake builds a target's precompiled header only for a target
// with a source of its language. It is never run.
int main() { return 0; }
