#include "contact_sheet.hpp"

#include <algorithm>
#include <cstring>

namespace tessera::gen {

app::Image contactSheet(const std::vector<const app::Image*>& cells, uint32_t columns, uint32_t repeat) {
  if (cells.empty() || columns == 0 || repeat == 0) throw app::ImageError("a contact sheet needs cells");
  const app::Image& first = *cells.front();
  for (const app::Image* c : cells)
    if (c->width != first.width || c->height != first.height || c->channels != first.channels)
      throw app::ImageError("the cells of a contact sheet must share one size");
  columns = std::min<uint32_t>(columns, uint32_t(cells.size()));
  const uint32_t rows = uint32_t((cells.size() + columns - 1) / columns);
  const uint32_t cw = first.width * repeat, ch = first.height * repeat;
  app::Image sheet(columns * cw + (columns + 1) * kSheetGap, rows * ch + (rows + 1) * kSheetGap,
                   first.channels);
  // Dark grey rather than black, so that a black texture still shows its edges; opaque.
  for (uint32_t y = 0; y < sheet.height; ++y)
    for (uint32_t x = 0; x < sheet.width; ++x) {
      uint8_t* p = sheet.at(x, y);
      for (uint32_t c = 0; c < sheet.channels; ++c)
        p[c] = (c == 3 || (c == 1 && sheet.channels == 2)) ? 255 : 32;
    }
  const std::size_t rowBytes = std::size_t(first.width) * first.channels;
  for (std::size_t i = 0; i < cells.size(); ++i) {
    const uint32_t x0 = kSheetGap + uint32_t(i % columns) * (cw + kSheetGap);
    const uint32_t y0 = kSheetGap + uint32_t(i / columns) * (ch + kSheetGap);
    for (uint32_t ry = 0; ry < repeat; ++ry)
      for (uint32_t rx = 0; rx < repeat; ++rx)
        for (uint32_t y = 0; y < first.height; ++y)
          std::memcpy(sheet.at(x0 + rx * first.width, y0 + ry * first.height + y), cells[i]->at(0, y),
                      rowBytes);
  }
  return sheet;
}

}  // namespace tessera::gen
