// Instantiates the conformance suite (map_conformance_test.h) for all five maps.
#include "conformance/map_conformance_test.h"

namespace syncscope::map::testing {

INSTANTIATE_TYPED_TEST_SUITE_P(AllMaps, MapConformanceTest, AllMapFamilies, FamilyName);

}  // namespace syncscope::map::testing
