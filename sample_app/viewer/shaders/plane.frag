#version 450
// Samples the generated texture with REPEAT addressing and trilinear filtering (the sampler says
// so). The texture is sRGB, so sampling returns linear colour; a UNORM colour target needs the
// sRGB encoding done here to show the same picture an sRGB target would.
layout(push_constant) uniform Push {
  mat4 mvp;
  vec2 uvScale;
  vec2 uvOffset;
  vec2 halfSize;
  uint encodeSrgb;
} pc;

layout(set = 0, binding = 0) uniform sampler2D tex;
layout(location = 0) in vec2 vUv;
layout(location = 0) out vec4 outColor;

vec3 linearToSrgb(vec3 c) {
  c = clamp(c, 0.0, 1.0);
  return mix(c * 12.92, 1.055 * pow(c, vec3(1.0 / 2.4)) - 0.055, step(vec3(0.0031308), c));
}

void main() {
  vec3 c = texture(tex, vUv).rgb;
  outColor = vec4(pc.encodeSrgb != 0u ? linearToSrgb(c) : c, 1.0);
}
