// A 5 x 7 pixel bitmap font (plus 2 rows of descenders) for the labels of `elbo plot` (ASCII letters, digits and
// the punctuation of numbers and titles), so that plotting needs no font library.
#pragma once
#include <array>
#include <cstdint>

namespace elbo {

constexpr int kGlyphWidth = 5, kGlyphHeight = 9;  // the baseline is under row 6
constexpr int kGlyphAdvance = kGlyphWidth + 1;  // one pixel between characters

// Row r of the glyph of c: bit (kGlyphWidth - 1 - x) set where pixel x is ink. A
// character without a glyph shows as '?'.
using Glyph = std::array<uint8_t, kGlyphHeight>;
const Glyph& glyph(char c);

}  // namespace elbo
