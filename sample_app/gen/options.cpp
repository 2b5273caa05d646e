#include "options.hpp"

#include <CLI/CLI.hpp>
#include <utility>

namespace tessera::gen {
namespace {

const std::vector<std::pair<std::string, tsr_sampler>> kSamplers = {
    {"default", TSR_SAMPLER_DEFAULT},         {"euler", TSR_SAMPLER_EULER}, {"heun", TSR_SAMPLER_HEUN},
    {"dpmpp_2m", TSR_SAMPLER_DPMPP_2M},       {"ddim", TSR_SAMPLER_DDIM},   {"ddpm", TSR_SAMPLER_DDPM},
    {"consistency", TSR_SAMPLER_CONSISTENCY},
};

const char* kFooter = R"(Textures are made for every class given (default: each class of the model), --count
of each, with seeds --seed, --seed+1, ...; the same seed gives the same texture at any --batch.

--out is a directory (files named {class}_{seed}.png) or a file pattern that uses {class},
{class_index}, {seed} and {index} (the texture's position, from 0); a pattern that would give
two textures the same file is refused. Directories are created.

--init IMAGE and --mask MASK must have the output's size; without --size/--width/--height the
output takes the init image's size. The mask is read as grey: white regenerates, black keeps the
init image, grey blends. --strength 0 returns the init image, 1 ignores it.

--sheet draws every texture in a grid, each repeated --sheet-tiles times across and down so a
seam shows, cells 4 px apart with a 4 px border: one row per class when several are made.

Exit status: 0 done, 1 the library or a file refused (the message says why), 2 usage.)";

}  // namespace

const char* samplerName(tsr_sampler sampler) {
  for (const auto& [name, value] : kSamplers)
    if (value == sampler) return name.c_str();
  return "unknown";
}

std::variant<Options, int> parseOptions(int argc, char** argv) {
  Options o;
  CLI::App app{"Generates textures with a tessera model and writes them as PNG files.", "tessera-gen"};
  app.footer(kFooter);
  app.set_version_flag("--version", tsr_version_string());
  app.option_defaults()->always_capture_default();
  app.get_formatter()->column_width(32);

  // Ranges are stated in the descriptions; CLI11's own wording of them crowds the help.
  const auto range = [](auto lo, auto hi) { return CLI::Range(lo, hi).description(""); };
  app.add_option("--model", o.model,
                 "the .tsr model package (default: $TESSERA_MODEL, else models/default.tsr near the "
                 "program or in the source tree it was built from)")
      ->type_name("PATH");
  app.add_option("--class", o.classes, "class name or index; repeat, or separate with commas")
      ->type_name("NAME|INDEX")
      ->delimiter(',')
      ->default_str("every class");
  app.add_flag("--list-classes", o.listClasses, "print the model's classes and exit");
  app.add_option("--seed", o.seed, "seed of each class's first texture")->type_name("N");
  app.add_option("--steps", o.steps, "sampler steps, 0..1000 (0: the model's default)")
      ->type_name("N")
      ->check(range(0u, 1000u));
  std::vector<std::string> samplerNames;
  for (const auto& [name, value] : kSamplers) samplerNames.push_back(name);
  std::string samplerText;
  app.add_option("--sampler", samplerText,
                 "default (the model's) | euler | heun | dpmpp_2m | ddim | ddpm | consistency")
      ->type_name("NAME")
      ->check(CLI::IsMember(samplerNames, CLI::ignore_case).description(""))
      ->default_str("default");
  uint32_t size = 0;
  auto* sizeOpt = app.add_option("--size", size,
                                 "width and height in pixels, a multiple of the model's size multiple "
                                 "(default: the init image's size, else the model's native size)")
                      ->type_name("N")
                      ->default_str("native");
  auto* widthOpt =
      app.add_option("--width", o.width, "width in pixels")->type_name("N")->default_str("as --size");
  auto* heightOpt =
      app.add_option("--height", o.height, "height in pixels")->type_name("N")->default_str("as --size");
  sizeOpt->excludes(widthOpt)->excludes(heightOpt);
  app.add_option("--count", o.count, "textures per class")->type_name("N")->check(range(1u, 100000u));
  app.add_option("--batch", o.batch, "requests per job: one batch on the GPU")
      ->type_name("N")
      ->check(range(1u, 1024u))
      ->default_str("min(textures, 8)");
  app.add_option("--guidance", o.guidance, "classifier-free guidance weight, 0..100 (1: none)")
      ->type_name("W")
      ->check(range(0.0f, 100.0f))
      ->default_str("the model's");
  bool tileable = false, plain = false;
  auto* tileOpt =
      app.add_flag("--tileable", tileable, "wrap around so the texture tiles (default: as the model)");
  auto* plainOpt = app.add_flag("--plain", plain, "pad with zeros: no tiling");
  tileOpt->excludes(plainOpt);
  auto* initOpt =
      app.add_option("--init", o.init, "a picture to make variations of (SDEdit)")->type_name("IMAGE.png");
  app.add_option("--strength", o.strength, "how far to move away from the init image, 0..1")
      ->type_name("S")
      ->check(range(0.0f, 1.0f))
      ->needs(initOpt)
      ->default_str("0.6, or 1 with --mask");
  app.add_option("--mask", o.mask, "white regenerates, black keeps the init image")
      ->type_name("MASK.png")
      ->needs(initOpt);
  app.add_option("--out", o.out, "a directory, or a file pattern with {class} {class_index} {seed} {index}")
      ->type_name("PATH");
  app.add_option("--sheet", o.sheet, "also write a contact sheet of all the textures")
      ->type_name("SHEET.png");
  app.add_option("--sheet-tiles", o.sheetTiles, "repeats of each texture across and down the sheet, 1..4")
      ->type_name("N")
      ->check(range(1u, 4u));
  app.add_option("--device", o.device,
                 "Vulkan device: an index or part of its name (default: $TESSERA_DEVICE, else the first "
                 "discrete, integrated, then CPU device)")
      ->type_name("SEL");
  app.add_flag("--fp32", o.fp32, "fp32 storage (default: fp16 storage where the device has it)");
  app.add_flag("--validation", o.validation, "enable the Khronos validation layer; a message fails the run");
  app.add_flag("--quiet", o.quiet, "print only errors");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int status = app.exit(e);
    return status == 0 ? 0 : 2;
  }
  if (size) o.width = o.height = size;
  for (const auto& [name, value] : kSamplers)
    if (CLI::detail::to_lower(samplerText) == name) o.sampler = value;
  o.tiling = tileable ? TSR_TILING_TILEABLE : plain ? TSR_TILING_PLAIN : TSR_TILING_DEFAULT;
  return o;
}

}  // namespace tessera::gen
