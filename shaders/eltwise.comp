#version 450
// out = alpha*a + beta*b (axpby; add is 1,1) or out = alpha*a*b (mul). Grid-stride loop so any
// element count fits the device's workgroup-count limit.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x_id = 0) in;

layout(std430, binding = 0) readonly buffer A { STORE_T a[]; };
layout(std430, binding = 1) readonly buffer B { STORE_T b[]; };
layout(std430, binding = 2) writeonly buffer Out { STORE_T o[]; };

layout(push_constant) uniform Push {
  uint count;
  uint multiply;  // 0: alpha*a + beta*b, 1: alpha*a*b
  float alpha;
  float beta;
} p;

void main() {
  const uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  for (uint i = gl_GlobalInvocationID.x; i < p.count; i += stride) {
    const float x = LD(a[i]);
    const float y = LD(b[i]);
    o[i] = ST(p.multiply != 0u ? p.alpha * x * y : p.alpha * x + p.beta * y);
  }
}
