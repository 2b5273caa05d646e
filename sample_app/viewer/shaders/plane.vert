#version 450
// The textured plane: four corners of a quad in the plane's own (x, z) coordinates, drawn as a
// triangle strip without vertex buffers. The flat view uses an orthographic matrix that maps the
// quad onto the whole viewport, so one texel lands on one pixel.
layout(push_constant) uniform Push {
  mat4 mvp;
  vec2 uvScale;   // texture repeats across the quad
  vec2 uvOffset;  // scrolling
  vec2 halfSize;  // the quad's half extent
  uint encodeSrgb;
} pc;

layout(location = 0) out vec2 vUv;

void main() {
  vec2 corner = vec2(float(gl_VertexIndex & 1), float(gl_VertexIndex >> 1));
  vec2 p = (corner * 2.0 - 1.0) * pc.halfSize;
  gl_Position = pc.mvp * vec4(p.x, 0.0, p.y, 1.0);
  vUv = corner * pc.uvScale + pc.uvOffset;
}
