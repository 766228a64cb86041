// embedding_index: the positions of each token id, for embedding_backward.wgsl. Writes
//   index[v] for v = 0..V: where token v's positions start in the list (index[V] = B * T),
//   index[V + 2 + j] for j < B * T: every position n = b * T + t, ordered by token id, then by n,
// so token v's positions are index[V + 2 + index[v]] .. index[V + 2 + index[v + 1] - 1], ascending.
// (index[V + 1] is work space.) A counting sort: count each id, prefix-sum the counts, place each
// position at its id's cursor. Token ids are clamped to V - 1 as in embedding_forward.wgsl.
// One invocation does it all, in three passes over the ids: B * T reads and writes, against the
// O(V * C * B * T) of scanning every id for every gradient element; no atomics, so deterministic.
// Shapes: tokens [B, T] u32 (BT = B * T), index [V + 2 + BT] u32.
// Bindings: 0 params {BT, V}, 1 tokens (read), 2 index (read_write).
// Dispatch: one workgroup of one invocation.
struct Params {
  BT: u32,
  V: u32,
}

override WG_X: u32;
override WG_Y: u32;
override WG_Z: u32;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> tokens: array<u32>;
@group(0) @binding(2) var<storage, read_write> index: array<u32>;

@compute @workgroup_size(WG_X, WG_Y, WG_Z)
fn main() {
  let V = p.V;
  for (var v = 0u; v < V + 2u; v++) {
    index[v] = 0u;
  }
  // Count id v at index[v + 2].
  for (var n = 0u; n < p.BT; n++) {
    let v = min(tokens[n], V - 1u);
    index[v + 2u] += 1u;
  }
  // Now index[v + 1] = the number of positions with an id below v: where v's positions start.
  for (var v = 2u; v < V + 2u; v++) {
    index[v] += index[v - 1u];
  }
  // Place each position at its id's cursor index[v + 1], which ends at the start of v + 1; index[v]
  // for v >= 1 has then become the start of v (the end of v - 1), and index[0] stays 0.
  for (var n = 0u; n < p.BT; n++) {
    let v = min(tokens[n], V - 1u);
    let at = index[v + 1u];
    index[V + 2u + at] = n;
    index[v + 1u] = at + 1u;
  }
}
