// Shared by every tessera compute shader.
// Storage type is a macro: fp32, or fp16 storage (TS_FP16=1) with all arithmetic in fp32.
#extension GL_EXT_shader_16bit_storage : require

#if TS_FP16
#define STORE_T float16_t
#define STORE_VEC2 f16vec2
#define STORE_VEC4 f16vec4
#else
#define STORE_T float
#define STORE_VEC2 vec2
#define STORE_VEC4 vec4
#endif

// Loads always widen to fp32; stores narrow to the storage type.
#define LD(x) float(x)
#define LD4(x) vec4(x)
#define ST(x) STORE_T(x)
#define ST4(x) STORE_VEC4(x)
