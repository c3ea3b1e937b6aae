/**
 * A training batch as the GPU takes it: the rows' kept tokens (attention mask 1) packed one row
 * after another, each with its position in its row (HF's default position ids: the index), its
 * row's span (attention stays inside a row, causal), and the label it predicts — HF's shifted
 * causal-LM loss: the logits at position i predict labels[i + 1]; -100 is ignored.
 * @module
 */
import { InputError } from "../errors.ts";

/** HF's ignore_index. */
export const IGNORE_INDEX = -100;
/** How the kernels mark an ignored target. */
export const IGNORED = 0xffffffff;

/** One sequence of a batch, as HF's `input_ids`, `attention_mask` and `labels`. */
export interface Sequence {
  inputIds: readonly number[];
  /** 1 keeps a token, 0 drops it (padding); default all 1. */
  attentionMask?: readonly number[];
  /** Default: the ids, with -100 where the mask is 0. */
  labels?: readonly number[];
}

/** A packed batch. */
export interface PackedBatch {
  /** Token ids [tokens]. */
  ids: Uint32Array<ArrayBuffer>;
  /** (0, position) per token, as the rope kernel reads a sequence table. */
  seq: Uint32Array<ArrayBuffer>;
  /** (first, end) per token: its row's tokens in the packed order. */
  spans: Uint32Array<ArrayBuffer>;
  /** The label each token's logits predict, or {@linkcode IGNORED}. */
  targets: Uint32Array<ArrayBuffer>;
  /** Labels not ignored. */
  counted: number;
  /** The largest position + 1 (how long the RoPE tables must be). */
  positions: number;
}

/** Packs `rows`; `vocab` bounds ids and labels. `where` names the source in errors. */
export function packBatch(rows: readonly Sequence[], vocab: number, where = "batch"): PackedBatch {
  const ids: number[] = [];
  const seq: number[] = [];
  const spans: number[] = [];
  const targets: number[] = [];
  let counted = 0;
  let positions = 0;
  rows.forEach((row, r) => {
    const n = row.inputIds.length;
    const mask = row.attentionMask ?? new Array(n).fill(1);
    const labels = row.labels ?? row.inputIds.map((id, i) => mask[i] ? id : IGNORE_INDEX);
    if (mask.length !== n || labels.length !== n) {
      throw new InputError(
        `${where}, sequence ${r}: input_ids has ${n} entries but attention_mask ${mask.length} and labels ${labels.length}: expected equal lengths`,
      );
    }
    const first = ids.length;
    const kept = row.inputIds.flatMap((_, i) => mask[i] === 1 ? [i] : mask[i] === 0 ? [] : bad(i));
    for (const i of kept) {
      const id = row.inputIds[i]!;
      if (!Number.isInteger(id) || id < 0 || id >= vocab) {
        throw new InputError(
          `${where}, sequence ${r}: input id ${id} at ${i} is not in [0, ${vocab})`,
        );
      }
      const label = i + 1 < n ? labels[i + 1]! : IGNORE_INDEX;
      if (label !== IGNORE_INDEX && (!Number.isInteger(label) || label < 0 || label >= vocab)) {
        throw new InputError(
          `${where}, sequence ${r}: label ${label} at ${i + 1} is not -100 or in [0, ${vocab})`,
        );
      }
      ids.push(id);
      seq.push(0, i);
      targets.push(label === IGNORE_INDEX ? IGNORED : label);
      if (label !== IGNORE_INDEX) counted++;
      positions = Math.max(positions, i + 1);
    }
    for (let t = first; t < ids.length; t++) spans.push(first, ids.length);

    function bad(i: number): never {
      throw new InputError(
        `${where}, sequence ${r}: attention_mask[${i}] is ${mask[i]}: expected 0 or 1`,
      );
    }
  });
  return {
    ids: Uint32Array.from(ids),
    seq: Uint32Array.from(seq),
    spans: Uint32Array.from(spans),
    targets: Uint32Array.from(targets),
    counted,
    positions,
  };
}

/** The batch's distinct ids and, grouped by id, the tokens using each (the embedding gradient's CSR). */
export function idGroups(ids: Uint32Array): {
  ids: Uint32Array<ArrayBuffer>;
  offsets: Uint32Array<ArrayBuffer>;
  order: Uint32Array<ArrayBuffer>;
} {
  const order = Uint32Array.from(ids.keys()).sort((a, b) => ids[a]! - ids[b]! || a - b);
  const distinct: number[] = [];
  const offsets: number[] = [];
  order.forEach((t, k) => {
    if (k === 0 || ids[t] !== ids[order[k - 1]!]) (distinct.push(ids[t]!), offsets.push(k));
  });
  offsets.push(order.length);
  return { ids: Uint32Array.from(distinct), offsets: Uint32Array.from(offsets), order };
}
