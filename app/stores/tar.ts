// The tar format (POSIX ustar, with pax headers for long paths and large sizes), written and
// read as streams for backups and artifacts: regular files and folders (and symlinks, only for
// a reader that asks for them), every header checksummed, and an archive that ends early is an
// error, never a short read taken for the whole.

const BLOCK = 512;
/** The largest size the ustar header's 11 octal digits hold (8 GiB - 1); larger ones go in a pax header. */
const MAX_USTAR_SIZE = 0o77777777777;
/** A pax header holds a path or two and a size: anything near this is not one of ours. */
const MAX_PAX_BYTES = 1 << 20;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The archive is not a tar stream, is damaged, or ends early. */
export class TarError extends Error {
  override name = "TarError";
}

export type TarEntryType = "file" | "directory" | "symlink";

export interface TarHeader {
  /** Relative path with "/" separators. */
  path: string;
  type: TarEntryType;
  size: number;
  mode: number;
  mtime: Date;
  /** A symlink's target, as stored (never resolved here). */
  linkTarget?: string;
}

function writeString(block: Uint8Array, offset: number, length: number, text: string): void {
  const bytes = encoder.encode(text);
  block.set(bytes.subarray(0, length), offset);
}

/** An octal field: `length - 1` zero-padded digits and a NUL. */
function writeOctal(block: Uint8Array, offset: number, length: number, value: number): void {
  writeString(block, offset, length, `${Math.floor(value).toString(8).padStart(length - 1, "0")}\0`);
}

/** A pax record: "<length> <key>=<value>\n", where the length counts itself. */
function paxRecord(key: string, value: string): string {
  const rest = ` ${key}=${value}\n`;
  const restLength = encoder.encode(rest).length;
  let length = restLength + String(restLength).length;
  // Adding the digits can add a digit (98 + 2 = 100): settle on a length that counts itself.
  while (length !== restLength + String(length).length) length = restLength + String(length).length;
  return `${length}${rest}`;
}

function ustarBlock(name: string, typeflag: string, size: number, mode: number, mtime: Date, linkName = ""): Uint8Array {
  const block = new Uint8Array(BLOCK);
  writeString(block, 0, 100, name);
  writeString(block, 157, 100, linkName);
  writeOctal(block, 100, 8, mode & 0o7777);
  writeOctal(block, 108, 8, 0);
  writeOctal(block, 116, 8, 0);
  writeOctal(block, 124, 12, size);
  writeOctal(block, 136, 12, Math.max(0, mtime.getTime() / 1000));
  block[156] = typeflag.charCodeAt(0);
  writeString(block, 257, 6, "ustar\0");
  writeString(block, 263, 2, "00");
  // The checksum is computed with its own field read as spaces.
  block.fill(0x20, 148, 156);
  const sum = block.reduce((total, byte) => total + byte, 0);
  writeString(block, 148, 8, `${sum.toString(8).padStart(6, "0")}\0 `);
  return block;
}

/** Zeros up to the next block boundary after `size` bytes of content. */
export function tarPadding(size: number): Uint8Array {
  return new Uint8Array((BLOCK - (size % BLOCK)) % BLOCK);
}

/** Two zero blocks: the end of an archive. */
export const TAR_END = new Uint8Array(BLOCK * 2);

/** The header of one entry (a pax header first when the path, link target or size does not fit ustar); the content and tarPadding follow. */
export function tarHeader(header: TarHeader): Uint8Array {
  const typeflag = header.type === "directory" ? "5" : header.type === "symlink" ? "2" : "0";
  const path = header.type === "directory" && !header.path.endsWith("/") ? `${header.path}/` : header.path;
  const size = header.type === "file" ? header.size : 0;
  const linkTarget = header.type === "symlink" ? (header.linkTarget ?? "") : "";
  const longPath = encoder.encode(path).length > 100;
  const longLink = encoder.encode(linkTarget).length > 100;
  const bigSize = size > MAX_USTAR_SIZE;
  const main = ustarBlock(path, typeflag, bigSize ? 0 : size, header.mode, header.mtime, longLink ? "" : linkTarget);
  if (!longPath && !bigSize && !longLink) return main;
  const records = encoder.encode(
    (longPath ? paxRecord("path", path) : "") + (longLink ? paxRecord("linkpath", linkTarget) : "") + (bigSize ? paxRecord("size", String(size)) : ""),
  );
  const pax = ustarBlock(`PaxHeader/${path.slice(-80)}`, "x", records.length, 0o644, header.mtime);
  const out = new Uint8Array(BLOCK + records.length + tarPadding(records.length).length + BLOCK);
  out.set(pax, 0);
  out.set(records, BLOCK);
  out.set(main, out.length - BLOCK);
  return out;
}

/** Reads exact amounts from a stream of chunks of any size. */
class ByteReader {
  private chunks: Uint8Array[] = [];
  private buffered = 0;
  private ended = false;
  /** Bytes taken so far: where in the archive an error happened. */
  offset = 0;

  constructor(private readonly source: AsyncIterator<Uint8Array>) {}

  private async fill(wanted: number): Promise<boolean> {
    while (this.buffered < wanted && !this.ended) {
      const next = await this.source.next();
      if (next.done) this.ended = true;
      else if (next.value.length > 0) {
        this.chunks.push(next.value);
        this.buffered += next.value.length;
      }
    }
    return this.buffered >= wanted;
  }

  private take(count: number): Uint8Array {
    if (count === 0) return new Uint8Array(0);
    const first = this.chunks[0]!;
    let out: Uint8Array;
    if (first.length >= count) {
      out = first.subarray(0, count);
      if (first.length === count) this.chunks.shift();
      else this.chunks[0] = first.subarray(count);
    } else {
      out = new Uint8Array(count);
      let filled = 0;
      while (filled < count) {
        const chunk = this.chunks[0]!;
        const part = Math.min(chunk.length, count - filled);
        out.set(chunk.subarray(0, part), filled);
        filled += part;
        if (part === chunk.length) this.chunks.shift();
        else this.chunks[0] = chunk.subarray(part);
      }
    }
    this.buffered -= count;
    this.offset += count;
    return out;
  }

  /** Exactly `count` bytes; TarError when the stream ends first. */
  async exactly(count: number): Promise<Uint8Array> {
    if (!(await this.fill(count))) throw new TarError(`the archive ends early at byte ${this.offset + this.buffered} (truncated?)`);
    return this.take(count);
  }

  /** Between 1 and `max` bytes, whatever is at hand. */
  async some(max: number): Promise<Uint8Array> {
    if (!(await this.fill(1))) throw new TarError(`the archive ends early at byte ${this.offset} (truncated?)`);
    return this.take(Math.min(max, this.chunks[0]!.length));
  }

  /** Reads to the end of the stream, so a damaged tail (a gzip checksum) still raises its error. */
  async drain(): Promise<void> {
    for (;;) {
      const next = await this.source.next();
      if (next.done) return;
    }
  }
}

function readString(block: Uint8Array, offset: number, length: number): string {
  const field = block.subarray(offset, offset + length);
  const end = field.indexOf(0);
  return decoder.decode(end === -1 ? field : field.subarray(0, end));
}

function readOctal(block: Uint8Array, offset: number, length: number, what: string): number {
  if ((block[offset]! & 0x80) !== 0) throw new TarError(`${what}: base-256 numbers are not supported`);
  const text = readString(block, offset, length).trim();
  if (text === "") return 0;
  if (!/^[0-7]+$/.test(text)) throw new TarError(`${what}: "${text}" is not an octal number (a damaged header?)`);
  return parseInt(text, 8);
}

/**
 * The records of a pax header: "<length> <key>=<value>\n", where the length counts bytes (the
 * value is UTF-8, so a path with "é" is longer in bytes than in characters). Parsed as bytes,
 * each key and value decoded on its own.
 */
function parsePax(records: Uint8Array): Record<string, string> {
  const values: Record<string, string> = {};
  const SPACE = 0x20;
  const EQUALS = 0x3d;
  const NEWLINE = 0x0a;
  let at = 0;
  while (at < records.length) {
    // Padding NULs after the last record end the header.
    if (records[at] === 0) break;
    const space = records.indexOf(SPACE, at);
    const digits = space === -1 ? "" : decoder.decode(records.subarray(at, space));
    const length = /^[0-9]+$/.test(digits) ? Number(digits) : NaN;
    if (space === -1 || !Number.isSafeInteger(length) || length <= space - at + 1 || at + length > records.length || records[at + length - 1] !== NEWLINE) {
      throw new TarError("a damaged pax header");
    }
    const record = records.subarray(space + 1, at + length - 1);
    const equals = record.indexOf(EQUALS);
    if (equals <= 0) throw new TarError("a damaged pax header");
    values[decoder.decode(record.subarray(0, equals))] = decoder.decode(record.subarray(equals + 1));
    at += length;
  }
  return values;
}

export interface TarEntry extends TarHeader {
  /** The content, in chunks; an entry not read to its end is skipped when the next one is asked for. */
  read(): AsyncGenerator<Uint8Array>;
}

export interface ReadTarOptions {
  /** Symlinks are entries too (artifacts keep node_modules/.bin); otherwise one is a TarError, as in a backup. */
  symlinks?: boolean;
}

/**
 * The entries of a tar stream, in order. Throws TarError on a damaged header (checksum), an
 * entry that is neither a file nor a folder (links unless asked for, devices), or an archive that ends early.
 */
export async function* readTar(input: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, options: ReadTarOptions = {}): AsyncGenerator<TarEntry> {
  const chunks = async function* () {
    yield* input;
  };
  const reader = new ByteReader(chunks());
  let pending: Record<string, string> = {};
  for (;;) {
    const at = reader.offset;
    const block = await reader.exactly(BLOCK);
    if (block.every((byte) => byte === 0)) {
      // The end: a second zero block, then record padding; read on so the stream's own checks run.
      await reader.exactly(BLOCK);
      await reader.drain();
      return;
    }
    const stored = readOctal(block, 148, 8, `header at byte ${at}`);
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i]!;
    if (sum !== stored) throw new TarError(`the header at byte ${at} is damaged (checksum mismatch)`);
    if (readString(block, 257, 6).trim() !== "ustar") throw new TarError(`the header at byte ${at} is not a ustar header`);
    const typeflag = String.fromCharCode(block[156]!);
    let size = readOctal(block, 124, 12, `header at byte ${at}`);
    if (typeflag === "x" || typeflag === "g") {
      // Held in memory whole: a damaged or hostile size must not make that unbounded.
      if (size > MAX_PAX_BYTES) throw new TarError(`the pax header at byte ${at} is ${size} bytes, more than the ${MAX_PAX_BYTES} allowed`);
      const records = await reader.exactly(size);
      await reader.exactly(tarPadding(size).length);
      // Global headers ("g") set defaults nothing here relies on.
      if (typeflag === "x") pending = parsePax(records);
      continue;
    }
    const prefix = readString(block, 345, 155);
    let path = pending.path ?? (prefix ? `${prefix}/${readString(block, 0, 100)}` : readString(block, 0, 100));
    if (pending.size !== undefined) {
      size = Number(pending.size);
      if (!Number.isSafeInteger(size) || size < 0) throw new TarError(`the pax size of ${path} is not a size`);
    }
    const linkTarget = typeflag === "2" ? (pending.linkpath ?? readString(block, 157, 100)) : undefined;
    pending = {};
    let type: TarEntryType;
    if (typeflag === "0" || typeflag === "\0") type = "file";
    else if (typeflag === "5") type = "directory";
    else if (typeflag === "2" && options.symlinks) type = "symlink";
    else {
      const kind = typeflag === "1" ? "a hard link" : typeflag === "2" ? "a symlink" : `an entry of type "${typeflag}"`;
      throw new TarError(`${path} is ${kind}; ${options.symlinks ? "an archive here holds only files, folders and symlinks" : "a backup holds only files and folders"}`);
    }
    if (type === "directory") {
      path = path.replace(/\/+$/, "");
      size = 0;
    }
    let remaining = size;
    const entry: TarEntry = {
      path,
      type,
      size,
      mode: readOctal(block, 100, 8, path),
      mtime: new Date(readOctal(block, 136, 12, path) * 1000),
      ...(linkTarget !== undefined && { linkTarget }),
      async *read() {
        while (remaining > 0) {
          const chunk = await reader.some(Math.min(remaining, 1 << 20));
          remaining -= chunk.length;
          yield chunk;
        }
      },
    };
    yield entry;
    while (remaining > 0) remaining -= (await reader.some(Math.min(remaining, 1 << 20))).length;
    await reader.exactly(tarPadding(size).length);
  }
}
