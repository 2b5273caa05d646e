/* tessera — generate textures on the GPU with a small diffusion model.
 *
 * The C ABI. Every struct passed in starts with `struct_size` (set it with the matching
 * tsr_*_defaults function, which also fills the defaults): a library built later accepts structs
 * from hosts built against older headers. Every function returns a tsr_result; on failure
 * tsr_last_error() holds a readable message for the calling thread. Nothing aborts.
 *
 * Every enum is 32 bits wide (each has a *_MAX_ENUM entry, as Vulkan's do). tessera reads enum
 * fields as integers and refuses a value it does not know with TSR_ERROR_INVALID_ARGUMENT, so a
 * host may store any integer in one without undefined behaviour.
 *
 * Objects and threads:
 *  - tsr_model is immutable after loading: share it freely between threads and contexts.
 *  - tsr_context may be used from several threads at once (it serialises what it must).
 *  - tsr_generator is externally synchronised: one thread at a time per generator. Two
 *    generators of one context may run on two threads concurrently.
 *  - Destroy generators before their context and their model.
 *
 * Typical use (see README.md):
 *   tsr_context_create_standalone(&cdesc, &ctx);
 *   tsr_model_load_file("models/default.tsr", &model);
 *   tsr_generator_create(ctx, model, &gdesc, &gen);
 *   tsr_generate(gen, &request, 1);            // or begin + record / record_slice / submit
 */
#ifndef TESSERA_H
#define TESSERA_H

#include <stddef.h>
#include <stdint.h>
#include <vulkan/vulkan.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32) && defined(TESSERA_SHARED)
#define TSR_API __declspec(dllexport)
#elif defined(__GNUC__)
#define TSR_API __attribute__((visibility("default")))
#else
#define TSR_API
#endif

#define TSR_VERSION_MAJOR 0
#define TSR_VERSION_MINOR 1
#define TSR_VERSION_PATCH 0

/* ---- results ------------------------------------------------------------------------------ */

typedef enum tsr_result {
  TSR_SUCCESS = 0,
  TSR_NOT_READY = 1,                      /* the work has not finished yet (not an error) */
  TSR_ERROR_INVALID_ARGUMENT = -1,        /* a null pointer, a bad size, a malformed request */
  TSR_ERROR_OUT_OF_ARENA = -2,            /* the request or the arena does not fit */
  TSR_ERROR_DEVICE_FEATURE_MISSING = -3,  /* the device lacks something tessera needs */
  TSR_ERROR_NO_DEVICE = -4,               /* no Vulkan device could be found or created */
  TSR_ERROR_VULKAN = -5,                  /* a Vulkan call failed (the message names it) */
  TSR_ERROR_CORRUPT_MODEL = -6,           /* a model file failed validation */
  TSR_ERROR_UNSUPPORTED = -7,             /* a valid model or request tessera cannot run */
  TSR_ERROR_IO = -8,                      /* a file could not be read */
  TSR_ERROR_BUSY = -9,                    /* the generator already has work in flight */
  TSR_ERROR_INTERNAL = -10,               /* a bug: please report the message */
  TSR_RESULT_MAX_ENUM = 0x7FFFFFFF
} tsr_result;

/* The message of this thread's last failed call ("" when none has failed). Successful calls
 * leave it as it is; the next failure on this thread replaces it (and the pointer returned
 * before then). Other threads' failures never touch it. */
TSR_API const char* tsr_last_error(void);
TSR_API const char* tsr_result_name(tsr_result result);
/* "major.minor.patch" of the library that is loaded. */
TSR_API const char* tsr_version_string(void);

/* ---- what tessera wants from a host's device ------------------------------------------------ */

typedef struct tsr_device_requirements {
  uint32_t struct_size;
  uint32_t min_api_version;              /* VK_API_VERSION_1_1 */
  VkQueueFlags queue_flags;              /* VK_QUEUE_COMPUTE_BIT */
  uint32_t required_device_extension_count;
  const char* const* required_device_extensions;  /* none at present */
  /* Optional features: enable them when the device has them; fp16 storage halves the arena
   * and the memory traffic. Report what you enabled in tsr_host_device_desc. */
  VkBool32 want_storage_buffer_16bit_access; /* VkPhysicalDevice16BitStorageFeatures */
  VkBool32 want_shader_float16;              /* VkPhysicalDeviceShaderFloat16Int8Features */
  /* What a TSR_OUTPUT_IMAGE needs: this usage, and these format features with optimal tiling.
   * Copies only, mips included (compute shaders make them into tessera's arena and every level
   * is copied in), so neither a graphics queue nor a storage-image format is needed: the queue
   * may be a compute-only (async compute) one. Filled when struct_size covers them. */
  VkImageUsageFlags output_image_usage;        /* VK_IMAGE_USAGE_TRANSFER_DST_BIT, plus what the
                                                  output's final_layout needs (SAMPLED, TRANSFER_SRC) */
  VkFormatFeatureFlags output_format_features; /* VK_FORMAT_FEATURE_TRANSFER_DST_BIT */
} tsr_device_requirements;

TSR_API void tsr_device_requirements_defaults(tsr_device_requirements* out);
TSR_API tsr_result tsr_get_device_requirements(tsr_device_requirements* out);

/* ---- context: one Vulkan device --------------------------------------------------------------- */

typedef struct tsr_context_t* tsr_context;
typedef void (*tsr_message_callback)(const char* message, void* user);

typedef struct tsr_standalone_desc {
  uint32_t struct_size;
  /* Index into vkEnumeratePhysicalDevices, or a case-insensitive part of the device name.
   * NULL or "": the TESSERA_DEVICE environment variable, else discrete > integrated > CPU. */
  const char* device;
  VkBool32 validation;           /* enable VK_LAYER_KHRONOS_validation, synchronization validation too */
  tsr_message_callback on_validation_message;
  void* user;
  VkBool32 allow_fp16;           /* enable fp16 storage when the device has it (default VK_TRUE) */
} tsr_standalone_desc;

typedef struct tsr_host_device_desc {
  uint32_t struct_size;
  VkInstance instance;
  VkPhysicalDevice physical_device;
  VkDevice device;
  uint32_t queue_family;              /* must support compute */
  uint32_t queue_index;               /* the queue tsr_generator_submit uses (see below) */
  PFN_vkGetInstanceProcAddr get_instance_proc_addr;
  PFN_vkGetDeviceProcAddr get_device_proc_addr;
  VkBool32 storage_buffer_16bit_access; /* what the host enabled on `device` */
  VkBool32 shader_float16;
} tsr_host_device_desc;

typedef struct tsr_context_info {
  uint32_t struct_size;
  char device_name[256];
  VkBool32 fp16_storage;  /* generators default to fp16 storage */
  VkBool32 owns_device;   /* standalone */
} tsr_context_info;

TSR_API void tsr_standalone_desc_defaults(tsr_standalone_desc* desc);
TSR_API void tsr_host_device_desc_defaults(tsr_host_device_desc* desc);
TSR_API void tsr_context_info_defaults(tsr_context_info* info);
/* tessera creates its own instance and device (a tool, a test, a game without Vulkan). */
TSR_API tsr_result tsr_context_create_standalone(const tsr_standalone_desc* desc, tsr_context* out);
/* tessera works on the host's device through its vkGet*ProcAddr; it never creates a device,
 * never touches global loader state, and uses the named queue only in tsr_generator_submit and
 * tsr_generate (the host must not use that VkQueue on another thread during those calls, as
 * Vulkan requires; query and wait use only tessera's fence). Nothing else, creation included,
 * touches any queue: a render thread may keep submitting to it meanwhile. */
TSR_API tsr_result tsr_context_create_from_device(const tsr_host_device_desc* desc, tsr_context* out);
TSR_API tsr_result tsr_context_get_info(tsr_context context, tsr_context_info* info);
TSR_API void tsr_context_destroy(tsr_context context);

/* ---- model ------------------------------------------------------------------------------------ */

typedef struct tsr_model_t* tsr_model;

typedef enum tsr_sampler {
  TSR_SAMPLER_DEFAULT = 0,   /* the model's recommendation */
  TSR_SAMPLER_EULER = 1,     /* EDM Euler (1 evaluation per step) */
  TSR_SAMPLER_HEUN = 2,      /* EDM Heun (2 per step, 1 for the last) */
  TSR_SAMPLER_DPMPP_2M = 3,  /* DPM-Solver++(2M) (1 per step) */
  TSR_SAMPLER_DDIM = 4,      /* DDIM, eta 0, for epsilon / v checkpoints */
  TSR_SAMPLER_DDPM = 5,      /* DDPM ancestral, for epsilon / v checkpoints */
  TSR_SAMPLER_CONSISTENCY = 6, /* multistep consistency sampling at the model's step sigmas */
  TSR_SAMPLER_MAX_ENUM = 0x7FFFFFFF
} tsr_sampler;

typedef struct tsr_model_info {
  uint32_t struct_size;
  uint32_t channels;          /* image channels the model makes (3: RGB) */
  uint32_t class_count;       /* named classes (not counting the null class) */
  VkBool32 guidance;          /* has a null class: classifier-free guidance is possible */
  uint32_t size_multiple;     /* width and height must be multiples of this */
  uint32_t native_size;       /* the resolution it was trained at (0: unknown) */
  VkBool32 tileable;          /* pads circularly by default */
  tsr_sampler default_sampler;
  uint32_t default_steps;
  float default_guidance;
  uint64_t parameter_count;
  uint64_t weight_bytes;      /* as stored in the package */
  /* Bit n set: the model lists distilled step sigmas for n-step TSR_SAMPLER_CONSISTENCY
     (n < 32); 0: not a consistency model. */
  uint32_t consistency_steps;
  /* A cascade (docs/API.md): the super-resolution stages after the base (0: the base alone) and
     the product of their scale factors (1 without stages); sizes above native_size run them. */
  uint32_t stage_count;
  uint32_t cascade_scale;
} tsr_model_info;

TSR_API void tsr_model_info_defaults(tsr_model_info* info);
/* Reads and validates the whole package (checksums, shapes, metadata). */
TSR_API tsr_result tsr_model_load_file(const char* path, tsr_model* out);
/* The bytes are copied; the caller may free them on return. */
TSR_API tsr_result tsr_model_load_memory(const void* data, size_t size, tsr_model* out);
TSR_API tsr_result tsr_model_get_info(tsr_model model, tsr_model_info* info);
/* The name of class `index` (< class_count); NULL when out of range. Valid while the model is. */
TSR_API const char* tsr_model_class_name(tsr_model model, uint32_t index);
/* The index of a class by name (case-insensitive). */
TSR_API tsr_result tsr_model_find_class(tsr_model model, const char* name, uint32_t* index);
TSR_API void tsr_model_destroy(tsr_model model);

/* ---- generator: a model on a context, with its arena ----------------------------------------- */

typedef struct tsr_generator_t* tsr_generator;

typedef enum tsr_precision {
  TSR_PRECISION_AUTO = 0,  /* fp16 storage when the context has it */
  TSR_PRECISION_FP32 = 1,
  TSR_PRECISION_FP16 = 2,
  TSR_PRECISION_MAX_ENUM = 0x7FFFFFFF
} tsr_precision;

/* A shape the generator builds its programs for at creation. */
typedef struct tsr_shape {
  uint32_t width, height, batch;
} tsr_shape;

/* A range of host-owned memory the arena binds into (as XeSS takes it). The memory must stay
 * allocated, and its bytes [offset, offset + size) untouched by the host, until
 * tsr_generator_destroy returns. */
typedef struct tsr_memory_block {
  VkDeviceMemory memory;
  VkDeviceSize offset;        /* a multiple of the block's alignment (tsr_memory_requirements) */
  VkDeviceSize size;
  uint32_t memory_type_index; /* the type `memory` was allocated with */
  /* Staging only. The host's pointer to `offset` when it keeps `memory` mapped (tessera then
   * never maps it); NULL: tessera maps [offset, offset + size) at creation and unmaps it at
   * destroy, and the host must not map `memory` (any range of it) meanwhile. */
  void* mapped;
} tsr_memory_block;

typedef enum tsr_generator_flag_bits {
  /* Refuse (TSR_ERROR_UNSUPPORTED) a request whose shape was not prepared at creation instead
   * of building its programs on first use (which allocates descriptor sets once). */
  TSR_GENERATOR_STRICT_SHAPES = 1u << 0,
  /* Build no classifier-free-guidance programs and reserve no memory for the unconditional
   * batch (about 40% fewer activation bytes); requests then run with guidance 1. */
  TSR_GENERATOR_NO_GUIDANCE = 1u << 1,
  TSR_GENERATOR_FLAG_BITS_MAX_ENUM = 0x7FFFFFFF
} tsr_generator_flag_bits;

typedef struct tsr_generator_desc {
  uint32_t struct_size;
  uint32_t max_width, max_height;  /* the largest request (default: the model's native size) */
  uint32_t max_batch;              /* the most requests per job (default 1) */
  tsr_precision precision;
  uint32_t flags;                  /* TSR_GENERATOR_* */
  /* Shapes to build at creation (each at most the maxima), both plain and tileable. NULL: the
   * largest shape, and batch 1 at the largest size. Others are built on first use. */
  const tsr_shape* prepared_shapes;
  uint32_t prepared_shape_count;
  /* NULL: the library allocates its arena (at most one VkDeviceMemory per memory kind). Else it
   * binds into these blocks and allocates no memory at all; see tsr_query_memory. */
  const tsr_memory_block* device_memory;
  const tsr_memory_block* staging_memory;
} tsr_generator_desc;

typedef struct tsr_memory_requirements {
  uint32_t struct_size;
  /* device-local block: weights, activations, sampler state, output pixels */
  VkDeviceSize device_bytes, device_alignment;
  uint32_t device_memory_type_bits;
  /* host-visible block: uploads (init images, masks) and downloads (host-memory outputs) */
  VkDeviceSize staging_bytes, staging_alignment;
  uint32_t staging_memory_type_bits;
  /* the parts of device_bytes */
  VkDeviceSize weight_bytes, activation_bytes, sampler_bytes;
} tsr_memory_requirements;

TSR_API void tsr_generator_desc_defaults(tsr_generator_desc* desc);
TSR_API void tsr_memory_requirements_defaults(tsr_memory_requirements* out);
/* The bytes a generator with this description needs, before creating it. */
TSR_API tsr_result tsr_query_memory(tsr_context context, tsr_model model, const tsr_generator_desc* desc,
                                    tsr_memory_requirements* out);
/* Packs the weights into the arena's staging block, plans the arena, builds the prepared
 * programs. It records and submits nothing, on no queue: the weights' copy to device memory is
 * recorded at the start of the generator's first job (whichever way it is recorded) and counts
 * as done once that job completes. After this, generating prepared shapes allocates nothing. */
TSR_API tsr_result tsr_generator_create(tsr_context context, tsr_model model, const tsr_generator_desc* desc,
                                        tsr_generator* out);
/* Waits for work the generator submitted itself; work the host recorded must have finished. */
TSR_API void tsr_generator_destroy(tsr_generator generator);

/* ---- requests -------------------------------------------------------------------------------- */

typedef enum tsr_output_kind {
  TSR_OUTPUT_HOST_MEMORY = 0,  /* pixels copied to `pixels` when the job completes */
  TSR_OUTPUT_IMAGE = 1,        /* the host's VkImage, all mip levels */
  TSR_OUTPUT_BUFFER = 2,       /* the host's VkBuffer, base level, rows tightly packed */
  TSR_OUTPUT_KIND_MAX_ENUM = 0x7FFFFFFF
} tsr_output_kind;

typedef enum tsr_tiling {
  TSR_TILING_DEFAULT = 0,  /* the model's padding (tileable for the default model) */
  TSR_TILING_TILEABLE = 1, /* circular padding: the texture wraps without a seam */
  TSR_TILING_PLAIN = 2,
  TSR_TILING_MAX_ENUM = 0x7FFFFFFF
} tsr_tiling;

typedef struct tsr_output {
  tsr_output_kind kind;
  /* VK_FORMAT_R8G8B8A8_SRGB or _UNORM (the same bytes: sRGB-encoded colour), or
   * VK_FORMAT_R16G16B16A16_SFLOAT (linear colour). Alpha is 1. */
  VkFormat format;
  /* HOST_MEMORY: width*height pixels, rows `row_pitch` bytes apart (0: tight). */
  void* pixels;
  size_t row_pitch;
  /* IMAGE: a 2-D image of the request's size, created with TRANSFER_DST usage (and the usage
   * final_layout needs: SAMPLED for SHADER_READ_ONLY, TRANSFER_SRC for TRANSFER_SRC), of a format the
   * device can copy into (tsr_device_requirements.output_*). Its previous contents are discarded
   * (tessera transitions it from UNDEFINED). Levels [0, mip_levels) are written, mip_levels >= 1
   * (tessera cannot query an image's creation info: state how many levels to fill). Each level
   * l >= 1 is a box filter of level l - 1 (2x2 texels, three coverage-weighted taps along an odd
   * axis) made by a compute shader in linear light: for RGBA8, _SRGB and _UNORM alike, the bytes
   * are sRGB-decoded, averaged and encoded again, since in both they hold sRGB-encoded colour.
   * Every level is left in `final_layout`: 0 or SHADER_READ_ONLY_OPTIMAL, TRANSFER_SRC_OPTIMAL or
   * GENERAL (others are refused). */
  VkImage image;
  uint32_t mip_levels;
  VkImageLayout final_layout;
  /* BUFFER: width*height pixels at `offset`, created with TRANSFER_DST usage. */
  VkBuffer buffer;
  VkDeviceSize offset;
} tsr_output;

typedef struct tsr_request {
  uint32_t struct_size;
  uint32_t width, height;   /* 0: the generator's maximum */
  int32_t class_index;      /* -1: unconditional (the null class), else < class_count */
  uint64_t seed;            /* the same seed gives the same texture at any batch position */
  uint32_t steps;           /* 0: the model's default for the sampler */
  tsr_sampler sampler;
  float guidance;           /* < 0: the model's default; 1: none; needs a null class otherwise */
  tsr_tiling tiling;
  /* Variations (SDEdit): width*height RGBA8 sRGB pixels, rows tight; strength 0 returns it, 1
   * ignores it. NULL: none. */
  const uint8_t* init_rgba;
  float strength;
  /* Inpainting: width*height bytes, 255 = generate, 0 = keep the init image, between = blend.
   * Needs init_rgba (with strength 1 to regenerate the masked region from noise). */
  const uint8_t* mask;
  tsr_output output;
} tsr_request;

TSR_API void tsr_request_defaults(tsr_request* request);

/* ---- running a job ----------------------------------------------------------------------------
 * A job is up to max_batch requests. Requests that agree on size, tiling, sampler, steps,
 * guidance and strength run as one batch; the others run one batch after another in the same
 * recording. Init images and masks are copied at tsr_generator_begin.
 *
 * Three ways to run a begun job (all record the same work):
 *  1. tsr_generator_record: everything into the host's command buffer. The host submits it
 *     and, once it has finished executing, calls tsr_generator_complete.
 *  2. tsr_generator_record_slice: at most `budget` units of work per call, each into a command
 *     buffer of the host's (one per frame, say), until it reports done; then the host calls
 *     tsr_generator_complete once the last slice has finished executing.
 *  3. tsr_generator_submit: tessera records and submits on the context's queue; poll with
 *     tsr_generator_query or block with tsr_generator_wait. tsr_generate does all of it.
 *
 * Synchronisation in the host's command buffer: each recording call (record, and every slice)
 * starts with a memory barrier from ALL_COMMANDS (memory writes) to tessera's compute and
 * transfer work, so earlier writes in the same queue are visible to it. An output image is
 * transitioned from UNDEFINED with ALL_COMMANDS as the source stage, so earlier reads of it (a
 * previous texture still being sampled) finish first. The last barrier on an output matches
 * what comes next, at ALL_COMMANDS: an image in SHADER_READ_ONLY_OPTIMAL for shader reads, in
 * TRANSFER_SRC_OPTIMAL for transfer reads, in GENERAL for any read or write; a buffer for any
 * read. So the host may use an output right after tessera's work with no barrier of its own.
 * Between slices only tessera's own
 * arena is touched, so the host may record anything. A job recorded in several slices cannot be
 * cancelled (see tsr_generator_cancel): record it to the end and complete it.
 * The requests (and the init images and masks) are copied at tsr_generator_begin; the output
 * handles and host pointers must stay valid until the job completes.
 */

/* Validates the requests and copies their inputs; TSR_ERROR_BUSY while a job is unfinished. */
TSR_API tsr_result tsr_generator_begin(tsr_generator generator, const tsr_request* requests, uint32_t count);
TSR_API tsr_result tsr_generator_record(tsr_generator generator, VkCommandBuffer command_buffer);
/* Records the next work of at most `budget` units (one unit is about one million floating-point
 * operations; a dispatch larger than the budget goes alone). *done: VK_TRUE once everything is
 * recorded. */
TSR_API tsr_result tsr_generator_record_slice(tsr_generator generator, VkCommandBuffer command_buffer,
                                              double budget, VkBool32* done);
/* After the host's submission of the recorded work has finished: copies host-memory outputs. */
TSR_API tsr_result tsr_generator_complete(tsr_generator generator);
/* Drops a begun job that was not recorded, or that tsr_generator_record (or one slice that
 * recorded it all) put into a command buffer the host never submitted. A job recorded in several
 * slices is refused (TSR_ERROR_BUSY): tessera cannot tell whether the host submitted some of
 * them, so record it to the end, submit that and complete it (or destroy the generator). */
TSR_API tsr_result tsr_generator_cancel(tsr_generator generator);

TSR_API tsr_result tsr_generator_submit(tsr_generator generator);
/* TSR_SUCCESS once the submitted job finished (then it is complete; asking again still says
 * TSR_SUCCESS until the next begin), TSR_NOT_READY before. */
TSR_API tsr_result tsr_generator_query(tsr_generator generator);
/* Waits at most timeout_ns (UINT64_MAX: forever); TSR_NOT_READY on timeout. */
TSR_API tsr_result tsr_generator_wait(tsr_generator generator, uint64_t timeout_ns);

typedef struct tsr_progress {
  uint32_t struct_size;
  uint32_t evaluations_total;     /* network evaluations in the job (one per batch of requests per
                                   * stage, however many images the batch holds) */
  uint32_t evaluations_recorded;
  uint32_t evaluations_done;      /* finished on the GPU (written by the GPU as it goes) */
  VkBool32 recorded;              /* everything is recorded */
  VkBool32 complete;              /* the job is complete */
  /* Work in budget units (see tsr_generator_record_slice): the job's total and what is recorded
   * so far, so a host can measure its cost per unit from a slice's time. */
  double work_total;
  double work_recorded;
} tsr_progress;

TSR_API void tsr_progress_defaults(tsr_progress* progress);
TSR_API tsr_result tsr_generator_get_progress(tsr_generator generator, tsr_progress* progress);

/* Blocking: begin + submit + wait. `on_progress` (may be NULL) is called from this thread each
 * time the GPU has finished more evaluations, and once more when the job is complete (that last
 * call has `complete` set and may repeat the previous count). */
typedef void (*tsr_progress_callback)(const tsr_progress* progress, void* user);
TSR_API tsr_result tsr_generate(tsr_generator generator, const tsr_request* requests, uint32_t count,
                                tsr_progress_callback on_progress, void* user);

#ifdef __cplusplus
}
#endif
#endif /* TESSERA_H */
