/**
 * The few binary primitives the manifest and delta encodings use: unsigned LEB128 varints (as in
 * Protocol Buffers) up to `Number.MAX_SAFE_INTEGER`, and raw 32-byte hashes. The reader never
 * throws: it records the first problem and every later read returns a harmless value, so a
 * decoder checks {@link Reader.problem} once it is done.
 *
 * @since 0.1.0
 */

/** Bytes a varint of a safe integer takes at most (7 bits each: 8 × 7 = 56 ≥ 53). */
const MAX_VARINT_BYTES = 8

/**
 * The encoded length of a varint.
 *
 * @since 0.1.0
 */
export const varintSize = (value: number): number => {
  let size = 1
  let rest = value
  while (rest >= 0x80) {
    rest = Math.floor(rest / 0x80)
    size++
  }
  return size
}

/**
 * Writes into a buffer of a known final size (the encoders compute it first, so nothing is
 * copied twice).
 *
 * @since 0.1.0
 */
export class Writer {
  readonly bytes: Uint8Array
  private at = 0
  constructor(size: number) {
    this.bytes = new Uint8Array(size)
  }
  byte(value: number): void {
    this.bytes[this.at++] = value
  }
  varint(value: number): void {
    let rest = value
    while (rest >= 0x80) {
      this.bytes[this.at++] = rest % 0x80 | 0x80
      rest = Math.floor(rest / 0x80)
    }
    this.bytes[this.at++] = rest
  }
  /** Raw bytes, as they are. */
  raw(data: Uint8Array): void {
    this.bytes.set(data, this.at)
    this.at += data.length
  }
  /** A lowercase hex SHA-256 as its 32 bytes. */
  hash(hex: string): void {
    for (let i = 0; i < 32; i++) this.bytes[this.at++] = parseInt(hex.slice(2 * i, 2 * i + 2), 16)
  }
  /** The bytes, checked to be exactly the size announced. */
  done(): Uint8Array {
    if (this.at !== this.bytes.length) throw new Error(`encoder wrote ${this.at} of ${this.bytes.length} bytes`)
    return this.bytes
  }
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"))

/**
 * Reads what {@link Writer} wrote, bounds-checked.
 *
 * @since 0.1.0
 */
export class Reader {
  private at = 0
  /** The first problem met, if any. */
  problem: string | undefined = undefined
  constructor(private readonly bytes: Uint8Array) {}
  get remaining(): number {
    return this.bytes.length - this.at
  }
  fail(problem: string): void {
    this.problem ??= problem
  }
  byte(): number {
    if (this.problem !== undefined) return 0
    if (this.at >= this.bytes.length) {
      this.fail(`truncated at byte ${this.at}`)
      return 0
    }
    return this.bytes[this.at++]!
  }
  varint(): number {
    let value = 0
    let scale = 1
    for (let i = 0; i < MAX_VARINT_BYTES; i++) {
      const b = this.byte()
      if (this.problem !== undefined) return 0
      value += (b & 0x7f) * scale
      if ((b & 0x80) === 0) {
        if (i > 0 && b === 0) this.fail(`a varint with a redundant last byte at byte ${this.at - 1}`)
        if (!Number.isSafeInteger(value)) this.fail(`a varint over 2^53 at byte ${this.at - 1}`)
        return this.problem === undefined ? value : 0
      }
      scale *= 0x80
    }
    this.fail(`a varint longer than ${MAX_VARINT_BYTES} bytes at byte ${this.at}`)
    return 0
  }
  /** The next `length` bytes, as a view (not a copy). */
  raw(length: number): Uint8Array {
    if (this.problem !== undefined) return new Uint8Array(0)
    if (this.remaining < length) {
      this.fail(`truncated at byte ${this.bytes.length}`)
      return new Uint8Array(0)
    }
    const out = this.bytes.subarray(this.at, this.at + length)
    this.at += length
    return out
  }
  /** 32 bytes as a lowercase hex SHA-256. */
  hash(): string {
    if (this.problem !== undefined) return ""
    if (this.remaining < 32) {
      this.fail(`truncated at byte ${this.bytes.length}`)
      return ""
    }
    let hex = ""
    for (let i = 0; i < 32; i++) hex += HEX[this.bytes[this.at++]!]
    return hex
  }
}
