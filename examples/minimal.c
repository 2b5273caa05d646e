/* Generate one 64x64 tileable brick texture with the default model, as RGBA8 pixels. */
#include <stdio.h>
#include <stdlib.h>
#include <tessera/tessera.h>

static int check(tsr_result r, const char* what) {
  if (r < 0) fprintf(stderr, "%s: %s: %s\n", what, tsr_result_name(r), tsr_last_error());
  return r < 0;
}

int main(int argc, char** argv) {
  const char* path = argc > 1 ? argv[1] : "models/default.tsr";
  tsr_context ctx = NULL;
  tsr_model model = NULL;
  tsr_generator gen = NULL;
  int failed = 1;

  tsr_standalone_desc cdesc;
  tsr_standalone_desc_defaults(&cdesc);
  if (check(tsr_context_create_standalone(&cdesc, &ctx), "context")) goto done;
  if (check(tsr_model_load_file(path, &model), "model")) goto done;

  tsr_generator_desc gdesc;
  tsr_generator_desc_defaults(&gdesc); /* largest request: the model's native size, batch 1 */
  if (check(tsr_generator_create(ctx, model, &gdesc, &gen), "generator")) goto done;

  static unsigned char pixels[64 * 64 * 4];
  uint32_t brick = 0;
  if (check(tsr_model_find_class(model, "brick", &brick), "class")) goto done;
  tsr_request req;
  tsr_request_defaults(&req);
  req.width = req.height = 64;
  req.seed = 7;
  req.class_index = (int32_t)brick;
  req.tiling = TSR_TILING_TILEABLE;
  req.output.kind = TSR_OUTPUT_HOST_MEMORY;
  req.output.format = VK_FORMAT_R8G8B8A8_SRGB;
  req.output.pixels = pixels;
  if (check(tsr_generate(gen, &req, 1, NULL, NULL), "generate")) goto done;

  printf("first pixel: %d %d %d\n", pixels[0], pixels[1], pixels[2]);
  failed = 0;
done:
  tsr_generator_destroy(gen);
  tsr_model_destroy(model);
  tsr_context_destroy(ctx);
  return failed;
}
