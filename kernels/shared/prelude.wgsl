// shared/prelude: what every kernel shares, joined before its other parts: the frame uniform at
// binding 0 (this forward's token count; a kernel that needs no count still has the binding, so
// every launch binds alike), the workgroup size WG that each launch sets, the Invocation every
// entry point takes, and small helpers.
// Bindings (group 0):
//   0 frame:  uniform Frame  { tokens: u32 }       (per forward)
// Precision: n/a.

struct Frame { tokens: u32 }

@group(0) @binding(0) var<uniform> frame: Frame;

override WG: u32 = 64u;
const LOWEST: f32 = -3.402823e38;

/** Where an entry point runs: every kernel's `main` takes one. */
struct Invocation {
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) groups: vec3u,
  @builtin(local_invocation_index) lid: u32,
}

/** The index of the invocation's workgroup in a dispatch folded into (x, y) with x ≤ 65535. */
fn workgroup_of(at: Invocation) -> u32 {
  return at.wid.x + at.wid.y * at.groups.x;
}

/** Eight consecutive weights of a matrix, as a format's chunk_weights gives them. */
struct Chunk {
  a: vec4<f32>,
  b: vec4<f32>,
}
