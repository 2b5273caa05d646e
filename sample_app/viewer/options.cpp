#include "options.hpp"

#include <CLI/CLI.hpp>

namespace tessera::viewer {

void addOptions(CLI::App& app, Options& o) {
  app.description(
      "tessera-viewer: shows generated textures tiled on a turning plane, generating each new one in\n"
      "slices recorded into the frames it draws (so no frame waits for the whole texture).\n"
      "Keys: Space/N new seed, 1..9/0 class, T tileable/plain, S screenshot, Esc/Q quit.");
  app.option_defaults()->always_capture_default();

  app.add_option("--model", o.model,
                 "model package (.tsr); default: $TESSERA_MODEL, then models/default.tsr beside "
                 "the program or in the source tree");
  app.add_option("--class", o.classSpec, "class name or index to start with (default: the model's first)");
  app.add_option("--seed", o.seed, "seed of the first texture (Space/N adds one)");
  app.add_option("--steps", o.steps, "sampler steps (0: the model's default)");
  app.add_option("--size", o.size, "texture width and height (0: the model's full size, its cascade's output where it has super-resolution stages)");
  app.add_option("--guidance", o.guidance, "classifier-free guidance weight (< 0: the model's default)");
  app.add_flag("--plain", o.plain, "start with plain (non-tileable) padding; T toggles");
  app.add_option("--device", o.device, "Vulkan device: index or part of its name (default: the best one)");
  app.add_flag("--fp32", o.fp32, "fp32 storage even where the device has fp16");

  app.add_option("--width", o.width, "window width")->check(CLI::Range(16u, 16384u));
  app.add_option("--height", o.height, "window height")->check(CLI::Range(16u, 16384u));
  app.add_option("--frame-ms", o.frameMs,
                 "target frame time: each frame's generation slice is sized to hold it")
      ->check(CLI::PositiveNumber);
  app.add_option("--budget", o.budget, "work units (~MFLOP) of the first slice, before any slice was timed")
      ->check(CLI::PositiveNumber);
  app.add_flag("--no-vsync", o.noVsync, "present without waiting for vertical blank (mailbox/immediate)");
  app.add_flag("--flat", o.flat, "a still, top-down view: the texture tiled at one texel per pixel");
  app.add_flag("--offscreen", o.offscreen, "no window: draw into an offscreen image of --width x --height");
  app.add_flag("--validation", o.validation,
               "enable VK_LAYER_KHRONOS_validation (synchronization validation too); exit 2 if it reports anything");
  app.add_flag("--log-frames", o.logFrames, "print every frame's times");
  app.add_flag(
      "--whole-job", o.wholeJob,
      "record each texture's whole job into one frame (tsr_generator_record), to compare with slicing");
  app.add_flag("--quiet", o.quiet, "print only errors");

  CLI::Option* frames = app.add_option(
      "--frames", o.frames,
      "render this many frames, then exit (more if the first texture is not finished by then)");
  app.add_option(
         "--textures", o.textures,
         "with --frames: generate this many textures one after another (seed, seed+1, ...) before exiting")
      ->needs(frames)
      ->check(CLI::Range(1u, 1000000u));
  app.add_option("--idle-frames", o.idleFrames,
                 "with --frames: render at least this many more after the last texture")
      ->needs(frames);
  app.add_option("--screenshot", o.screenshot, "with --frames: save the last frame as this PNG")
      ->needs(frames);
  app.add_option("--save-texture", o.saveTexture, "save the first generated texture (level 0) as this PNG");
  app.add_option("--stats", o.stats, "write frame-time statistics (JSON) here on exit");
}

}  // namespace tessera::viewer
