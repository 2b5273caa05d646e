#pragma once
// A contact sheet: many textures in one picture, each repeated so that a seam would show.
#include <cstdint>
#include <vector>

#include "png_io.hpp"

namespace tessera::gen {

// Pixels between cells and around the sheet.
constexpr uint32_t kSheetGap = 4;

// Lays `cells` (all of one size and channel count) out `columns` to a row, each repeated
// `repeat` times across and down, on a dark background. The sheet is
// columns*(w*repeat) + (columns+1)*kSheetGap pixels wide, and likewise high for its rows.
app::Image contactSheet(const std::vector<const app::Image*>& cells, uint32_t columns, uint32_t repeat);

}  // namespace tessera::gen
