// samplerPrepare body: the network's inputs for the current stage, with no host round trip.
//   netIn[j] = cIn * E[j mod n]      (rows n..2n-1 repeat the batch for the guidance's null rows;
//                                     a cascade stage's rows are wider, netPerItem: channels after
//                                     the state's hold the conditioning and are left alone)
//   timesteps[j] = cNoise            (fp32 whatever the network's storage type)
//   classes[j] = one-hot(j < n ? items[j].classLabel : nullClass)   (SAMPLER_HAS_CLASSES)
// A label >= K gives a zero row; labels are validated where the item rows are written.
#include "sampler_params.glsl"
layout(local_size_x_id = 0) in;

layout(std430, binding = 1) readonly buffer E { float es[]; };
layout(std430, binding = 2) writeonly buffer NetIn { STORE_T netIn[]; };
layout(std430, binding = 3) writeonly buffer Timesteps { float timesteps[]; };
#if SAMPLER_HAS_CLASSES
layout(std430, binding = 4) writeonly buffer Classes { STORE_T classes[]; };
#endif

layout(push_constant) uniform Push {
  uint items;    // n
  uint rows;     // nb: n, or 2n with classifier-free guidance
  uint perItem;  // C*H*W
  uint classes;  // K (0 without SAMPLER_HAS_CLASSES)
  uint netPerItem;  // netIn's row: C'*H*W, C' >= C
} p;

void main() {
  const uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  const uint first = gl_GlobalInvocationID.x;
  const float cIn = params.stage.cIn;
  const uint stateCount = p.items * p.perItem;
  for (uint i = first; i < p.rows * p.perItem; i += stride) {
    const uint row = i / p.perItem;
    netIn[row * p.netPerItem + (i - row * p.perItem)] = ST(cIn * es[i < stateCount ? i : i - stateCount]);
  }
  for (uint j = first; j < p.rows; j += stride) timesteps[j] = params.stage.cNoise;
#if SAMPLER_HAS_CLASSES
  for (uint i = first; i < p.rows * p.classes; i += stride) {
    const uint j = i / p.classes;
    const uint k = i - j * p.classes;
    const uint label = j < p.items ? params.items[j].classLabel : params.stage.nullClass;
    classes[i] = ST(k == label ? 1.0 : 0.0);
  }
#endif
}
