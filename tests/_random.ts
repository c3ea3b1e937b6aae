/** Seeded random data and the element encodings the GPU stores (bf16, f16 as raw bytes). */

/** A seeded PRNG (mulberry32) returning floats in [0, 1). */
export { mulberry32 as seeded } from "../src/train/random.ts";

/** n uniform values in [-scale, scale). */
export function randomArray(rng: () => number, n: number, scale = 1): Float32Array<ArrayBuffer> {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (rng() * 2 - 1) * scale;
  return a;
}

/** n normal values with standard deviation `scale` (Box–Muller): weights as initialised. */
export function gaussianArray(
  rng: () => number,
  n: number,
  scale = 1,
): Float32Array<ArrayBuffer> {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    a[i] = Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng()) * scale;
  }
  return a;
}

/** Rounds f32 values to bf16 (nearest even): the packed bytes and the values they hold. */
export function toBf16(
  values: Float32Array,
): { bytes: Uint8Array<ArrayBuffer>; values: Float32Array } {
  const bits = new Uint32Array(Float32Array.from(values).buffer);
  const half = new Uint16Array(values.length);
  const back = new Uint32Array(values.length);
  for (let i = 0; i < bits.length; i++) {
    const b = bits[i]!;
    const rounded = (b + 0x7fff + ((b >>> 16) & 1)) >>> 16;
    half[i] = rounded;
    back[i] = rounded << 16;
  }
  return { bytes: new Uint8Array(half.buffer), values: new Float32Array(back.buffer) };
}

/** Rounds f32 values to f16: the packed bytes and the values they hold. */
export function toF16(
  values: Float32Array,
): { bytes: Uint8Array<ArrayBuffer>; values: Float32Array } {
  const h = Float16Array.from(values);
  return { bytes: new Uint8Array(h.buffer), values: Float32Array.from(h) };
}

/** Encodes values in a storage type, returning bytes and the exactly representable values. */
export function encode(type: "f32" | "f16" | "bf16", values: Float32Array<ArrayBuffer>) {
  if (type === "bf16") return toBf16(values);
  if (type === "f16") return toF16(values);
  return { bytes: new Uint8Array(values.buffer), values };
}
