// Decodes BuildKit's progress as the Engine API sends it (`{"id":"moby.buildkit.trace",
// "aux":"<base64>"}`): a protobuf moby.buildkit.v1.StatusResponse, of which only the fields a
// readable log needs are read — steps (vertexes) with their name, start, end, cache hit and
// error; their output (logs); warnings. A reader of the wire format, no schema compiler.

export interface TraceVertex {
  digest: string;
  name: string;
  cached: boolean;
  /** Seconds since the epoch (fractional), when set. */
  started?: number;
  completed?: number;
  error?: string;
}

export interface TraceLog {
  vertex: string;
  /** 1 stdout, 2 stderr. */
  stream: number;
  data: Uint8Array;
}

export interface TraceWarning {
  vertex: string;
  message: string;
}

export interface TraceStatus {
  vertexes: TraceVertex[];
  logs: TraceLog[];
  warnings: TraceWarning[];
}

/** The bytes are not a StatusResponse (truncated, or a wire type this reader cannot skip). */
export class TraceDecodeError extends Error {
  override name = "TraceDecodeError";
}

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_BYTES = 2;
const WIRE_FIXED32 = 5;

const utf8 = new TextDecoder();

/** Reads protobuf fields one after another from a message's bytes. */
class WireReader {
  private at = 0;
  constructor(private readonly bytes: Uint8Array) {}

  get done(): boolean {
    return this.at >= this.bytes.length;
  }

  /** A varint as a number (exact up to 2^53, which timestamps and lengths stay within). */
  varint(): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.at >= this.bytes.length) throw new TraceDecodeError("a varint runs past the end");
      const byte = this.bytes[this.at++]!;
      value += (byte & 0x7f) * scale;
      if ((byte & 0x80) === 0) return value;
      scale *= 128;
    }
    throw new TraceDecodeError("a varint is longer than 10 bytes");
  }

  /** The next field's number and wire type, or undefined at the end. */
  tag(): { field: number; wire: number } | undefined {
    if (this.done) return undefined;
    const key = this.varint();
    return { field: Math.floor(key / 8), wire: key % 8 };
  }

  bytesField(): Uint8Array {
    const length = this.varint();
    if (this.at + length > this.bytes.length) throw new TraceDecodeError("a field runs past the end");
    const out = this.bytes.subarray(this.at, this.at + length);
    this.at += length;
    return out;
  }

  string(): string {
    return utf8.decode(this.bytesField());
  }

  skip(wire: number): void {
    if (wire === WIRE_VARINT) this.varint();
    else if (wire === WIRE_BYTES) this.bytesField();
    else if (wire === WIRE_FIXED64) this.advance(8);
    else if (wire === WIRE_FIXED32) this.advance(4);
    else throw new TraceDecodeError(`wire type ${wire} cannot be skipped`);
  }

  private advance(count: number): void {
    if (this.at + count > this.bytes.length) throw new TraceDecodeError("a field runs past the end");
    this.at += count;
  }
}

/** Calls `onField` for each field of a message; `onField` reads the value or returns false to skip it. */
function eachField(bytes: Uint8Array, onField: (reader: WireReader, field: number, wire: number) => boolean): void {
  const reader = new WireReader(bytes);
  for (let tag = reader.tag(); tag; tag = reader.tag()) {
    if (!onField(reader, tag.field, tag.wire)) reader.skip(tag.wire);
  }
}

/** google.protobuf.Timestamp → seconds since the epoch. */
function timestamp(bytes: Uint8Array): number {
  let seconds = 0;
  let nanos = 0;
  eachField(bytes, (reader, field, wire) => {
    if (wire !== WIRE_VARINT) return false;
    if (field === 1) seconds = reader.varint();
    else if (field === 2) nanos = reader.varint();
    else return false;
    return true;
  });
  return seconds + nanos / 1e9;
}

function vertex(bytes: Uint8Array): TraceVertex {
  const out: TraceVertex = { digest: "", name: "", cached: false };
  eachField(bytes, (reader, field, wire) => {
    if (field === 4 && wire === WIRE_VARINT) out.cached = reader.varint() !== 0;
    else if (wire !== WIRE_BYTES) return false;
    else if (field === 1) out.digest = reader.string();
    else if (field === 3) out.name = reader.string();
    else if (field === 5) out.started = timestamp(reader.bytesField());
    else if (field === 6) out.completed = timestamp(reader.bytesField());
    else if (field === 7) out.error = reader.string();
    else return false;
    return true;
  });
  return out;
}

function log(bytes: Uint8Array): TraceLog {
  const out: TraceLog = { vertex: "", stream: 1, data: new Uint8Array(0) };
  eachField(bytes, (reader, field, wire) => {
    if (field === 1 && wire === WIRE_BYTES) out.vertex = reader.string();
    else if (field === 3 && wire === WIRE_VARINT) out.stream = reader.varint();
    else if (field === 4 && wire === WIRE_BYTES) out.data = reader.bytesField();
    else return false;
    return true;
  });
  return out;
}

function warning(bytes: Uint8Array): TraceWarning {
  const out: TraceWarning = { vertex: "", message: "" };
  eachField(bytes, (reader, field, wire) => {
    if (field === 1 && wire === WIRE_BYTES) out.vertex = reader.string();
    else if (field === 3 && wire === WIRE_BYTES) out.message = reader.string();
    else return false;
    return true;
  });
  return out;
}

/** Decodes one StatusResponse (its base64 form, as the `aux` of a trace message). */
export function decodeTrace(base64: string): TraceStatus {
  const status: TraceStatus = { vertexes: [], logs: [], warnings: [] };
  eachField(Buffer.from(base64, "base64"), (reader, field, wire) => {
    if (wire !== WIRE_BYTES) return false;
    // Field 2 (per-vertex byte counts of pulls and copies) is skipped: the log shows steps, not bytes.
    if (field === 1) status.vertexes.push(vertex(reader.bytesField()));
    else if (field === 3) status.logs.push(log(reader.bytesField()));
    else if (field === 4) status.warnings.push(warning(reader.bytesField()));
    else return false;
    return true;
  });
  return status;
}
