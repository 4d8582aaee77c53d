// The three pieces of libm the heap sampler needs: the natural logarithm
// (the exponential sampling distance), 1 - exp(-x) (a sample's weight) and
// rounding an estimate to an integer. Written here so the LD_PRELOAD core
// object needs no libm: loading it cost every process that starts with the
// preload about 0.5 MiB of resident memory (libm's pages the loader touches)
// and 0.08 ms (issue 16, item 1), for three functions.
//
// Accuracy: within a few units in the last place of libm's results for the
// arguments the sampler passes (tests/prof/sampling_math_test.cc checks them
// against libm). The sampler needs far less: its distances and weights are
// random draws and estimates.
#pragma once

#include <cstdint>
#include <cstring>
#include <limits>

namespace syncscope::prof::internal {

// ln(x) (the sampler's x is in (0, 1]); as libm: -inf at 0, +inf at +inf,
// NaN below 0 and for NaN.
inline double natural_log(double x) noexcept {
  if (x == 0) return -std::numeric_limits<double>::infinity();
  if (!(x > 0)) return std::numeric_limits<double>::quiet_NaN();
  if (x == std::numeric_limits<double>::infinity()) return x;
  std::uint64_t bits = 0;
  std::memcpy(&bits, &x, sizeof bits);
  int exponent = static_cast<int>((bits >> 52) & 0x7ff);
  if (exponent == 0) {  // subnormal: scale into the normal range first
    x *= 0x1p54;
    std::memcpy(&bits, &x, sizeof bits);
    exponent = static_cast<int>((bits >> 52) & 0x7ff) - 54;
  }
  // x = m * 2^k with m in [sqrt(1/2), sqrt(2)).
  int k = exponent - 1023;
  bits = (bits & ((std::uint64_t{1} << 52) - 1)) | (std::uint64_t{1023} << 52);
  double m = 0;
  std::memcpy(&m, &bits, sizeof m);
  if (m > 1.4142135623730951) {
    m *= 0.5;
    ++k;
  }
  // ln(m) = 2 atanh(s), s = (m - 1) / (m + 1), |s| <= 0.1716: the series
  // 2 (s + s^3/3 + ... + s^19/19) leaves a relative error below 1e-17.
  const double s = (m - 1) / (m + 1);
  const double s2 = s * s;
  double sum = 1.0 / 19;
  for (int odd = 17; odd >= 1; odd -= 2) sum = sum * s2 + 1.0 / odd;
  // ln 2 split in a high part exact in 32 bits and the rest, so k * ln2_hi is exact.
  constexpr double kLn2Hi = 6.93147180369123816490e-01;
  constexpr double kLn2Lo = 1.90821492927058770002e-10;
  return k * kLn2Hi + (2 * s * sum + k * kLn2Lo);
}

// 1 - exp(-x) for x >= 0, without the cancellation of computing exp(-x)
// first when x is small (libm's -expm1(-x)).
inline double one_minus_exp_neg(double x) noexcept {
  if (!(x >= 0)) return std::numeric_limits<double>::quiet_NaN();
  if (x < 0.5) {
    // Taylor series of 1 - exp(-x) = x - x^2/2! + x^3/3! - ...; 20 terms
    // leave less than 0.5^21 / 21! (about 1e-26) relative to x.
    double term = x, sum = x;
    for (int n = 2; n <= 20; ++n) {
      term *= -x / n;
      sum += term;
    }
    return sum;
  }
  if (x > 745) return 1.0;  // exp(-x) is below the smallest subnormal
  // exp(-x) = 2^-k exp(-r), r = x - k ln 2 in [-ln2/2, ln2/2].
  constexpr double kLn2 = 0.6931471805599453;
  constexpr double kLn2Hi = 6.93147180369123816490e-01;
  constexpr double kLn2Lo = 1.90821492927058770002e-10;
  const int k = static_cast<int>(x / kLn2 + 0.5);
  const double r = (x - k * kLn2Hi) - k * kLn2Lo;
  // exp(-r) for |r| <= 0.35: Taylor to r^16 (error below 0.35^17 / 17!, about 1e-22).
  double term = 1.0, e = 1.0;
  for (int n = 1; n <= 16; ++n) {
    term *= -r / n;
    e += term;
  }
  // Scale by 2^-k through the exponent field (k <= 1075: may go subnormal).
  double scaled = e;
  for (int left = k; left > 0;) {
    const int step = left > 1000 ? 1000 : left;
    std::uint64_t bits = static_cast<std::uint64_t>(1023 - step) << 52;
    double factor = 0;
    std::memcpy(&factor, &bits, sizeof factor);
    scaled *= factor;
    left -= step;
  }
  return 1.0 - scaled;
}

// x rounded to the nearest integer, halves away from zero (llround), for
// |x| < 2^63; the sampler's estimates are far inside that.
inline std::int64_t round_to_int64(double x) noexcept {
  const auto whole = static_cast<std::int64_t>(x);  // toward zero
  const double fraction = x - static_cast<double>(whole);  // exact below 2^52; 0 above
  if (fraction >= 0.5) return whole + 1;
  if (fraction <= -0.5) return whole - 1;
  return whole;
}

}  // namespace syncscope::prof::internal
