/**
 * Read-only memory maps through libc (`open`/`fstat`/`mmap`/`munmap`/`close` via Deno FFI), so
 * multi-GB weight files are paged in by the kernel on demand and never copied into the JS heap.
 * @module
 */
import { InputError } from "../errors.ts";

const LIBC = Deno.build.os === "darwin" ? "libSystem.B.dylib" : "libc.so.6";
/** Byte offset of `st_size` inside `struct stat` (Linux x86_64/aarch64: 48; macOS: 96). */
const ST_SIZE_OFFSET = Deno.build.os === "darwin" ? 96 : 48;
const STAT_BYTES = 256; // larger than struct stat on every supported platform
const PROT_READ = 1;
const MAP_PRIVATE = 2;
const O_RDONLY = 0;
/** madvise advice: drop the pages (a private read-only file map re-reads them if touched). */
const MADV_DONTNEED = 4;

const SYMBOLS = {
  open: { parameters: ["buffer", "i32"], result: "i32" },
  fstat: { parameters: ["i32", "buffer"], result: "i32" },
  mmap: { parameters: ["pointer", "usize", "i32", "i32", "i32", "i64"], result: "pointer" },
  munmap: { parameters: ["pointer", "usize"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  madvise: { parameters: ["pointer", "usize", "i32"], result: "i32" },
  getpagesize: { parameters: [], result: "i32" },
} as const;

let libc: Deno.DynamicLibrary<typeof SYMBOLS> | undefined;
function lib(): Deno.DynamicLibrary<typeof SYMBOLS>["symbols"] {
  libc ??= Deno.dlopen(LIBC, SYMBOLS);
  return libc.symbols;
}

let pageBytes = 0;
function pageSize(): number {
  return pageBytes ||= lib().getpagesize();
}

/**
 * A file mapped read-only into memory (or, for files embedded in a compiled binary, read into
 * it). Views die with {@linkcode MappedFile.close}.
 */
export class MappedFile {
  #ptr: Deno.PointerObject | null;
  /** The whole file, when it was read rather than mapped. */
  #bytes: Uint8Array<ArrayBuffer> | undefined;

  private constructor(
    readonly path: string,
    readonly size: number,
    ptr: Deno.PointerObject | null,
    bytes?: Uint8Array<ArrayBuffer>,
  ) {
    this.#ptr = ptr;
    this.#bytes = bytes;
  }

  /**
   * Maps the whole of `path`; a zero-length file maps to an empty view. Inside a `deno compile`
   * binary, a file libc cannot open may be one embedded in the binary, which only Deno's own file
   * APIs see: it is read whole instead (the built-in model is 1 MB).
   */
  static open(path: string): MappedFile {
    const c = lib();
    const fd = c.open(new TextEncoder().encode(path + "\0"), O_RDONLY);
    if (fd < 0) {
      if (Deno.build.standalone) return MappedFile.read(path);
      throw new InputError(`Cannot open ${path}: it is missing or unreadable`);
    }
    try {
      const stat = new Uint8Array(STAT_BYTES);
      if (c.fstat(fd, stat) !== 0) throw new InputError(`Cannot stat ${path}`);
      const size = Number(new DataView(stat.buffer).getBigInt64(ST_SIZE_OFFSET, true));
      if (size === 0) return new MappedFile(path, 0, null);
      const ptr = c.mmap(null, BigInt(size), PROT_READ, MAP_PRIVATE, fd, 0n);
      if (ptr === null || Deno.UnsafePointer.value(ptr) === 0xffff_ffff_ffff_ffffn) {
        throw new InputError(`Cannot memory-map ${path} (${size} bytes)`);
      }
      return new MappedFile(path, size, ptr);
    } finally {
      c.close(fd);
    }
  }

  /** Reads the whole of `path` into memory, for files that cannot be mapped (embedded ones). */
  static read(path: string): MappedFile {
    let bytes: Uint8Array<ArrayBuffer>;
    try {
      bytes = Deno.readFileSync(path);
    } catch {
      throw new InputError(`Cannot open ${path}: it is missing or unreadable`);
    }
    return new MappedFile(path, bytes.length, null, bytes);
  }

  /** Zero-copy view of `length` bytes at `offset` (any offset, also past 4 GiB). */
  view(offset: number, length: number): Uint8Array<ArrayBuffer> {
    if (!(offset >= 0 && length >= 0 && offset + length <= this.size)) {
      throw new RangeError(
        `view [${offset}, ${offset + length}) outside ${this.path} (${this.size} bytes)`,
      );
    }
    if (length === 0) return new Uint8Array(0);
    if (this.#bytes) return this.#bytes.subarray(offset, offset + length);
    if (this.#ptr === null) throw new Error(`${this.path} is already unmapped`);
    const at = Deno.UnsafePointer.offset(this.#ptr, offset);
    return new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(at!, length));
  }

  /**
   * Tells the kernel that bytes [offset, offset+length) are no longer needed, so their pages
   * leave this process's resident memory (they stay valid: touching them reads the file again).
   * Used after a tensor is uploaded, so loading never holds a second copy of the model.
   */
  release(offset: number, length: number): void {
    if (this.#ptr === null || length <= 0) return;
    const page = pageSize();
    const first = Math.ceil(offset / page) * page; // only whole pages inside the range
    const end = Math.floor(Math.min(offset + length, this.size) / page) * page;
    if (end <= first) return;
    lib().madvise(Deno.UnsafePointer.offset(this.#ptr, first)!, BigInt(end - first), MADV_DONTNEED);
  }

  /** Unmaps the file; every view taken from it becomes invalid. Idempotent. */
  close(): void {
    this.#bytes = undefined;
    if (this.#ptr === null) return;
    lib().munmap(this.#ptr, BigInt(this.size));
    this.#ptr = null;
  }
}
