#include "run.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <tessera/tessera.hpp>
#include <vector>

#include "contact_sheet.hpp"
#include "model_path.hpp"
#include "outputs.hpp"
#include "png_io.hpp"

namespace tessera::gen {
namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

double msSince(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

class Console {
 public:
  explicit Console(bool quiet) : quiet_(quiet), tty_(isatty(fileno(stdout)) != 0) {}
  bool quiet() const { return quiet_; }
  bool tty() const { return tty_; }

  __attribute__((format(printf, 2, 3))) void say(const char* fmt, ...) const {
    if (quiet_) return;
    std::va_list args;
    va_start(args, fmt);
    std::vprintf(fmt, args);
    va_end(args);
    std::fflush(stdout);
  }

 private:
  bool quiet_, tty_;
};

// Reports network evaluations as tsr_generate finishes them: rewritten in place on a terminal,
// one line per change otherwise (a log keeps the whole story).
struct ProgressPrinter {
  const Console* console;
  uint32_t job = 0, jobs = 0, shown = ~0u;

  static void callback(const tsr_progress* p, void* user) {
    auto* self = static_cast<ProgressPrinter*>(user);
    if (self->console->quiet() || p->evaluations_done == self->shown) return;
    self->shown = p->evaluations_done;
    std::printf("%s  job %u/%u: evaluation %u of %u%s", self->console->tty() ? "\r" : "", self->job,
                self->jobs, p->evaluations_done, p->evaluations_total, self->console->tty() ? "" : "\n");
    std::fflush(stdout);
  }
};

struct ValidationCounter {
  uint32_t messages = 0;
  static void callback(const char* message, void* user) {
    ++static_cast<ValidationCounter*>(user)->messages;
    std::fprintf(stderr, "validation: %s\n", message);
  }
};

std::string dims(uint32_t w, uint32_t h) { return std::to_string(w) + "x" + std::to_string(h); }

bool isIndex(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string classList(const tsr::Model& model, uint32_t count) {
  std::string s;
  for (uint32_t i = 0; i < count; ++i) s += (i ? ", " : "") + model.className(i);
  return s;
}

// --class entries as (index, name); every class of the model when none is given.
std::vector<std::pair<int32_t, std::string>> resolveClasses(const Options& o, const tsr::Model& model,
                                                            const tsr_model_info& info) {
  std::vector<std::pair<int32_t, std::string>> classes;
  if (o.classes.empty()) {
    for (uint32_t i = 0; i < info.class_count; ++i) classes.emplace_back(int32_t(i), model.className(i));
    if (classes.empty()) classes.emplace_back(-1, "unconditional");  // a model without classes
    return classes;
  }
  for (const std::string& c : o.classes) {
    uint32_t index = 0;
    if (isIndex(c)) {
      if (c.size() > 9 || std::stoul(c) >= info.class_count)
        throw std::runtime_error("class index " + c + " is out of range: the model has " +
                                 std::to_string(info.class_count) + " classes (" +
                                 classList(model, info.class_count) + ")");
      index = uint32_t(std::stoul(c));
    } else {
      index = model.findClass(c);  // its message lists the model's classes
    }
    classes.emplace_back(int32_t(index), model.className(index));
  }
  return classes;
}

void createParent(const fs::path& file) {
  if (file.has_parent_path()) fs::create_directories(file.parent_path());
}

app::Image dropAlpha(const std::vector<uint8_t>& rgba, uint32_t w, uint32_t h) {
  app::Image rgb(w, h, 3);
  for (std::size_t i = 0, n = std::size_t(w) * h; i < n; ++i)
    for (int c = 0; c < 3; ++c) rgb.pixels[i * 3 + c] = rgba[i * 4 + c];
  return rgb;
}

}  // namespace

int run(const Options& o) {
  const Console console(o.quiet);
  const auto totalStart = Clock::now();

  // Everything the command line can get wrong is checked before the device is touched.
  const fs::path modelPath = o.model.empty() ? app::findDefaultModel() : fs::path(o.model);
  auto t0 = Clock::now();
  std::optional<tsr::Model> loaded;
  try {
    loaded.emplace(tsr::Model::load(modelPath.string()));
  } catch (const tsr::Error& e) {
    throw tsr::Error(e.result(), "cannot load model " + modelPath.string() + ": " + e.what());
  }
  const tsr::Model& model = *loaded;
  const double loadMs = msSince(t0);
  const tsr_model_info info = model.info();

  if (o.listClasses) {
    // What the converted model is, on stderr so stdout stays one "index name" line per class.
    std::fprintf(stderr, "model: %s sampler, %u steps by default, %u class%s, %s\n", samplerName(info.default_sampler),
                 info.default_steps, info.class_count, info.class_count == 1 ? "" : "es",
                 info.guidance ? "guidance possible (has a null class)" : "no guidance (no null class)");
    for (uint32_t i = 0; i < info.class_count; ++i) std::printf("%u %s\n", i, model.className(i).c_str());
    return 0;
  }

  const auto classes = resolveClasses(o, model, info);
  const std::vector<Texture> textures = planTextures(classes, o.count, o.seed);
  const std::vector<fs::path> paths = outputPaths(o.out, textures);

  std::optional<app::Image> init, mask;
  if (!o.init.empty()) init = app::readImage(o.init, 4);
  uint32_t width = o.width ? o.width : init ? init->width : info.native_size;
  uint32_t height = o.height ? o.height : init ? init->height : info.native_size;
  if (width == 0 || height == 0)
    throw std::runtime_error("the model does not state its native size: give --size (a multiple of " +
                             std::to_string(info.size_multiple) + ")");
  if (init && (init->width != width || init->height != height))
    throw std::runtime_error("--init " + o.init + " is " + dims(init->width, init->height) +
                             " but the textures are " + dims(width, height) +
                             ": resize the image or give --size to match");
  if (!o.mask.empty()) {
    mask = app::readImage(o.mask, 1);
    if (mask->width != width || mask->height != height)
      throw std::runtime_error("--mask " + o.mask + " is " + dims(mask->width, mask->height) +
                               " but the textures are " + dims(width, height) + ": they must match");
  }

  const uint32_t total = uint32_t(textures.size());
  const uint32_t batch = o.batch ? std::min(o.batch, total) : std::min(total, 8u);
  const uint32_t jobs = (total + batch - 1) / batch;

  // The device.
  ValidationCounter validation;
  auto cdesc = tsr::standaloneDesc();
  cdesc.device = o.device.c_str();
  cdesc.validation = o.validation ? VK_TRUE : VK_FALSE;
  cdesc.on_validation_message = &ValidationCounter::callback;
  cdesc.user = &validation;
  cdesc.allow_fp16 = o.fp32 ? VK_FALSE : VK_TRUE;
  t0 = Clock::now();
  const tsr::Context context = tsr::Context::standalone(cdesc);
  const double contextMs = msSince(t0);
  const tsr_context_info cinfo = context.info();
  const bool fp16 = cinfo.fp16_storage && !o.fp32;
  console.say("device: %s (%s storage; ready in %.0f ms)\n", cinfo.device_name, fp16 ? "fp16" : "fp32",
              contextMs);
  console.say(
      "model: %s: %.2f M parameters, %u classes, %ux%u native, %s, %s sampler, %u steps, guidance %g "
      "(loaded in %.0f ms)\n",
      modelPath.string().c_str(), double(info.parameter_count) / 1e6, info.class_count, info.native_size,
      info.native_size, info.tileable ? "tileable" : "plain", samplerName(info.default_sampler),
      info.default_steps, double(info.default_guidance), loadMs);

  if (info.stage_count)
    console.say("cascade: %u super-resolution stage(s), %ux in all: sizes above %ux%u run the base at up to "
                "%ux%u and the stages after it (%ux%u)\n",
                info.stage_count, info.cascade_scale, info.native_size, info.native_size, info.native_size,
                info.native_size, info.native_size * info.cascade_scale, info.native_size * info.cascade_scale);

  // The generator, built for exactly the shapes the jobs use.
  auto gdesc = tsr::generatorDesc();
  gdesc.max_width = width;
  gdesc.max_height = height;
  gdesc.max_batch = batch;
  gdesc.precision = o.fp32 ? TSR_PRECISION_FP32 : TSR_PRECISION_AUTO;
  const float guidance = o.guidance >= 0 ? o.guidance : info.default_guidance;
  // Without guidance the unconditional pass is never run: half the activations are not reserved.
  if (guidance == 1.0f) gdesc.flags |= TSR_GENERATOR_NO_GUIDANCE;
  std::vector<tsr_shape> shapes = {{width, height, batch}};
  if (total % batch) shapes.push_back({width, height, total % batch});
  gdesc.prepared_shapes = shapes.data();
  gdesc.prepared_shape_count = uint32_t(shapes.size());
  const tsr_memory_requirements memory = tsr::queryMemory(context, model, gdesc);
  t0 = Clock::now();
  tsr::Generator generator(context, model, gdesc);
  console.say(
      "generator: %s, batch %u, %.1f MiB on the device (weights %.1f, activations %.1f), created in %.0f "
      "ms\n",
      dims(width, height).c_str(), batch, double(memory.device_bytes) / (1 << 20),
      double(memory.weight_bytes) / (1 << 20), double(memory.activation_bytes) / (1 << 20), msSince(t0));

  const std::size_t pixelBytes = std::size_t(width) * height * 4;
  std::vector<std::vector<uint8_t>> pixels(batch, std::vector<uint8_t>(pixelBytes));
  std::vector<app::Image> kept;  // for the contact sheet
  ProgressPrinter progress{&console, 0, jobs};
  double generateMs = 0;
  for (uint32_t job = 0; job < jobs; ++job) {
    const uint32_t first = job * batch, n = std::min(batch, total - first);
    std::vector<tsr_request> requests;
    for (uint32_t i = 0; i < n; ++i) {
      const Texture& t = textures[first + i];
      tsr_request r = tsr::request();
      r.width = width;
      r.height = height;
      r.class_index = t.classIndex;
      r.seed = t.seed;
      r.steps = o.steps;
      r.sampler = o.sampler;
      r.guidance = o.guidance;
      r.tiling = o.tiling;
      if (init) {
        r.init_rgba = init->pixels.data();
        r.strength = o.strength >= 0 ? o.strength : mask ? 1.0f : 0.6f;
      }
      if (mask) r.mask = mask->pixels.data();
      r.output.kind = TSR_OUTPUT_HOST_MEMORY;
      r.output.format = VK_FORMAT_R8G8B8A8_SRGB;
      r.output.pixels = pixels[i].data();
      r.output.row_pitch = 0;
      requests.push_back(r);
    }
    progress.job = job + 1;
    progress.shown = ~0u;
    t0 = Clock::now();
    generator.generate(requests, &ProgressPrinter::callback, &progress);
    const double ms = msSince(t0);
    generateMs += ms;
    if (console.tty() && !console.quiet()) std::printf("\r\033[K");
    console.say("job %u/%u: %u texture%s in %.0f ms (%.1f ms per texture)\n", job + 1, jobs, n,
                n == 1 ? "" : "s", ms, ms / n);
    for (uint32_t i = 0; i < n; ++i) {
      app::Image image = dropAlpha(pixels[i], width, height);
      const fs::path& path = paths[first + i];
      createParent(path);
      app::writePng(path, image);
      console.say("wrote %s\n", path.string().c_str());
      if (!o.sheet.empty()) kept.push_back(std::move(image));
    }
  }

  if (!o.sheet.empty()) {
    std::vector<const app::Image*> cells;
    for (const app::Image& i : kept) cells.push_back(&i);
    // One row per class when there are several; otherwise as square as the count allows.
    const uint32_t columns =
        classes.size() > 1 ? o.count : uint32_t(std::ceil(std::sqrt(double(cells.size())) - 1e-9));
    const app::Image sheet = contactSheet(cells, columns, o.sheetTiles);
    createParent(o.sheet);
    app::writePng(o.sheet, sheet);
    console.say("wrote %s (%s, %zu textures)\n", o.sheet.c_str(), dims(sheet.width, sheet.height).c_str(),
                cells.size());
  }
  console.say("%u texture%s in %.2f s (%.1f ms per texture generating; %.2f s in all)\n", total,
              total == 1 ? "" : "s", generateMs / 1000, generateMs / total, msSince(totalStart) / 1000);
  if (validation.messages)
    throw std::runtime_error(std::to_string(validation.messages) + " validation message(s); see above");
  return 0;
}

}  // namespace tessera::gen
