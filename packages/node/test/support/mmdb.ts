/**
 * A small MaxMind DB writer (format 2.0) for test fixtures, so a test can make the `.mmdb` it
 * reads instead of depending on a file from outside the repository or on MaxMind's Perl/Go writers.
 *
 * What it writes (https://maxmind.github.io/MaxMind-DB/): the binary search tree (records of 24, 28
 * or 32 bits), the 16-byte data section separator, the data section (identical records stored
 * once; repeated strings and maps inside records become pointers unless `pointers: false`), then
 * `\xAB\xCD\xEFMaxMind.com` and the metadata map. Data values are strings, booleans, unsigned
 * integers ({@link uint16}, {@link uint32}, {@link uint64}), arrays and maps: what GeoIP2 country
 * and city records use. (Doubles, floats, signed integers and raw bytes are not written.)
 *
 * In an IPv6 tree, IPv4 networks (`127.0.1.0/24`) go to `::127.0.1.0/120`, and with `aliasIpv4`
 * (the default, as MaxMind's writer does with `alias_ipv6_to_ipv4`) `::ffff:0:0/96` (IPv4-mapped),
 * `2001::/32` (Teredo) and `2002::/16` (6to4) lead to the same IPv4 subtree.
 *
 * Synchronous and throwing ({@link MmdbWriteError}) on bad input: it is a fixture builder, called
 * at a test's start, where a mistake should stop the test with a clear message.
 */
import * as Data from "effect/Data"
import { Buffer } from "node:buffer"
import { isIP } from "node:net"

/** Input the writer refuses: a bad network, a number out of range, a conflict with the aliases. */
export class MmdbWriteError extends Data.TaggedError("MmdbWriteError")<{ readonly reason: string }> {
  override get message(): string {
    return `MaxMind DB writer: ${this.reason}`
  }
}

/** An unsigned integer of a given MaxMind DB type (a plain JS number would not say which one). */
export class MmdbUint {
  constructor(
    readonly bits: 16 | 32 | 64,
    readonly value: bigint
  ) {}
}

/** A value of the data section. */
export type MmdbValue = string | boolean | MmdbUint | ReadonlyArray<MmdbValue> | MmdbMap

/** A map of the data section (its keys are written sorted). */
export interface MmdbMap {
  readonly [key: string]: MmdbValue
}

const uint = (bits: 16 | 32 | 64, value: number | bigint): MmdbUint => {
  const big = typeof value === "bigint" ? value : Number.isSafeInteger(value) ? BigInt(value) : -1n
  if (big < 0n || big >= 1n << BigInt(bits)) {
    throw new MmdbWriteError({ reason: `${value} is not a uint${bits}` })
  }
  return new MmdbUint(bits, big)
}

/** A `uint16` value. */
export const uint16 = (value: number): MmdbUint => uint(16, value)
/** A `uint32` value (GeoIP2's `geoname_id`). */
export const uint32 = (value: number): MmdbUint => uint(32, value)
/** A `uint64` value (the metadata's `build_epoch`). */
export const uint64 = (value: number | bigint): MmdbUint => uint(64, value)

/** What a database says about itself (its metadata) and how it is laid out. */
export interface MmdbOptions {
  /** `database_type`, e.g. `GeoLite2-Country`. */
  readonly databaseType: string
  /** 6 (default): IPv6 tree, IPv4 networks under `::/96`; 4: IPv4 networks only. */
  readonly ipVersion?: 4 | 6
  /** Bits per record (default 24): the tree and data section must fit in them. */
  readonly recordSize?: 24 | 28 | 32
  /** Locale codes the names are in (default none). */
  readonly languages?: ReadonlyArray<string>
  /** Description by language (default none). */
  readonly description?: Readonly<Record<string, string>>
  /** IPv4-mapped, Teredo and 6to4 lead to the IPv4 networks (default true; IPv6 trees only). */
  readonly aliasIpv4?: boolean
  /** Seconds since the epoch (default now); fixed, the output is the same bytes every time. */
  readonly buildEpoch?: number | bigint
  /** Repeated strings and maps inside records as pointers (default true). */
  readonly pointers?: boolean
}

/** A database being built: networks go in, the file's bytes come out. */
export interface MmdbWriter {
  /**
   * Gives `network` (CIDR, IPv4 or IPv6) the record `data`. A later network replaces what it
   * covers of earlier ones (a more specific one splits the earlier range).
   */
  readonly insert: (network: string, data: MmdbValue) => void
  /** The database file. */
  readonly toBytes: () => Uint8Array
}

/** A network as the tree's bits (an address of the tree's width) and its prefix length. */
interface Network {
  readonly bits: bigint
  readonly prefix: number
}

const parseIpv4 = (text: string): bigint =>
  text.split(".").reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n)

/** The 128 bits of an address `isIP` already accepted as IPv6 (`::`, embedded IPv4). */
const parseIpv6 = (text: string): bigint => {
  const groups = (part: string): Array<bigint> =>
    part === ""
      ? []
      : part.split(":").flatMap((group) => {
          if (!group.includes(".")) return [BigInt(`0x${group}`)]
          const v4 = parseIpv4(group)
          return [v4 >> 16n, v4 & 0xffffn]
        })
  const halves = text.split("::")
  const head = groups(halves[0]!)
  const tail = halves.length === 2 ? groups(halves[1]!) : []
  const all = [...head, ...Array<bigint>(8 - head.length - tail.length).fill(0n), ...tail]
  return all.reduce((acc, group) => (acc << 16n) | group, 0n)
}

/** `network` as bits of a tree of `width` bits (32 or 128). */
const parseNetwork = (network: string, width: 32 | 128): Network => {
  const match = /^([^/]+)\/(\d{1,3})$/.exec(network)
  // (A zone, `fe80::1%eth0`, names an interface, not part of an address space.)
  const version = match === null || match[1]!.includes("%") ? 0 : isIP(match[1]!)
  if (match === null || version === 0) {
    throw new MmdbWriteError({ reason: `${JSON.stringify(network)} is not a network (CIDR: address/prefix)` })
  }
  const own = version === 4 ? 32 : 128
  const length = Number(match[2])
  if (length > own) throw new MmdbWriteError({ reason: `${network}: the prefix is longer than ${own} bits` })
  if (version === 6 && width === 32) {
    throw new MmdbWriteError({ reason: `${network} is IPv6 but the database is IPv4 (ipVersion 4)` })
  }
  const address = version === 4 ? parseIpv4(match[1]!) : parseIpv6(match[1]!)
  const hostBits = BigInt(own - length)
  if (address & ((1n << hostBits) - 1n)) {
    throw new MmdbWriteError({ reason: `${network} has host bits set: it is not the first address of a /${length}` })
  }
  // IPv4 in an IPv6 tree: ::a.b.c.d/(96 + n), where readers look IPv4 addresses up.
  return { bits: address, prefix: length + (width - own) }
}

/** A data record in the tree, with its canonical form (the key identical records share). */
interface DataRecord {
  readonly _tag: "Data"
  readonly value: MmdbValue
  readonly key: string
}
/** A record that leads to whatever is at `::/96` (the IPv4 subtree). */
interface AliasRecord {
  readonly _tag: "Alias"
  readonly network: string
}
type Slot = TreeNode | DataRecord | AliasRecord | undefined

class TreeNode {
  constructor(
    public left: Slot,
    public right: Slot
  ) {}
}

const isData = (slot: Slot): slot is DataRecord =>
  slot !== undefined && !(slot instanceof TreeNode) && slot._tag === "Data"
const isUint = (value: MmdbValue): value is MmdbUint => value instanceof MmdbUint
const isArray = (value: MmdbValue): value is ReadonlyArray<MmdbValue> => Array.isArray(value)

/** One form per value, whatever the order of its map keys: the dedupe key. */
const canonical = (value: MmdbValue): string => {
  if (typeof value === "string") return `s${JSON.stringify(value)}`
  if (typeof value === "boolean") return value ? "t" : "f"
  if (isUint(value)) return `u${value.bits}:${value.value}`
  if (isArray(value)) return `[${value.map(canonical).join(",")}]`
  const map = value as MmdbMap
  return `{${Object.keys(map)
    .sort()
    .map((key) => `${JSON.stringify(key)}:${canonical(map[key]!)}`)
    .join(",")}}`
}

/** The largest size a control byte and its three extension bytes can say. */
const MAX_SIZE = 65821 + 0xffffff

/** Big-endian bytes of `value`, `length` of them. */
const bigEndian = (value: number | bigint, length: number): Array<number> => {
  const out: Array<number> = []
  let rest = BigInt(value)
  for (let i = 0; i < length; i++) {
    out.unshift(Number(rest & 0xffn))
    rest >>= 8n
  }
  return out
}

/** How many bytes an unsigned integer takes without its leading zeros (none for 0). */
const byteLength = (value: bigint): number => (value === 0n ? 0 : Math.ceil(value.toString(16).length / 2))

/** The type numbers of the data section. */
const Type = { pointer: 1, string: 2, uint16: 5, uint32: 6, map: 7, uint64: 9, array: 11, boolean: 14 } as const

/** Bytes appended to a buffer that doubles when full (a data section can be megabytes). */
class Bytes {
  private buffer = new Uint8Array(1024)
  length = 0

  push(...bytes: ReadonlyArray<number>): void {
    this.append(bytes)
  }

  append(bytes: ArrayLike<number>): void {
    if (this.length + bytes.length > this.buffer.length) {
      const grown = new Uint8Array(Math.max(this.buffer.length * 2, this.length + bytes.length))
      grown.set(this.buffer.subarray(0, this.length))
      this.buffer = grown
    }
    this.buffer.set(bytes, this.length)
    this.length += bytes.length
  }

  /** What was written (a view, not a copy). */
  view(): Uint8Array {
    return this.buffer.subarray(0, this.length)
  }
}

/** A data section being written; with `pointers`, values already written are pointed to. */
class Section {
  readonly bytes = new Bytes()
  /** Where values (with `pointers`) were written inline. */
  private readonly offsets = new Map<string, number>()
  /** Where whole records were written. */
  private readonly records = new Map<string, number>()

  constructor(private readonly pointers: boolean) {}

  private control(type: number, size: number): void {
    if (size > MAX_SIZE) throw new MmdbWriteError({ reason: `a value of ${size} bytes or entries is too large` })
    const [bits, extra] =
      size < 29
        ? [size, []]
        : size < 285
          ? [29, [size - 29]]
          : size < 65821
            ? [30, bigEndian(size - 285, 2)]
            : [31, bigEndian(size - 65821, 3)]
    if (type <= 7) this.bytes.push((type << 5) | bits)
    else this.bytes.push(bits, type - 7)
    this.bytes.push(...extra)
  }

  private pointer(offset: number): Array<number> {
    if (offset < 2048) return [(Type.pointer << 5) | (offset >> 8), offset & 0xff]
    if (offset < 526336) {
      const v = offset - 2048
      return [(Type.pointer << 5) | (1 << 3) | (v >> 16), ...bigEndian(v & 0xffff, 2)]
    }
    if (offset < 526336 + 2 ** 27) {
      const v = offset - 526336
      return [(Type.pointer << 5) | (2 << 3) | Math.floor(v / 2 ** 24), ...bigEndian(v % 2 ** 24, 3)]
    }
    return [(Type.pointer << 5) | (3 << 3), ...bigEndian(offset, 4)]
  }

  /** The bytes of a scalar inline: worth a pointer only when longer than one. */
  private static inlineSize(value: MmdbValue): number {
    if (typeof value === "string") {
      const n = Buffer.byteLength(value)
      return 1 + n + (n < 29 ? 0 : n < 285 ? 1 : n < 65821 ? 2 : 3)
    }
    if (typeof value === "boolean") return 2
    if (isUint(value)) return 1 + (value.bits === 64 ? 1 : 0) + byteLength(value.value)
    return isArray(value) ? (value.length === 0 ? 2 : Infinity) : Object.keys(value).length === 0 ? 1 : Infinity
  }

  /** Writes `value` (or a pointer to its earlier copy); its offset is where it starts. */
  write(value: MmdbValue, key: string = canonical(value)): number {
    const earlier = this.offsets.get(key)
    if (earlier !== undefined) {
      const pointer = this.pointer(earlier)
      if (pointer.length < Section.inlineSize(value)) {
        const at = this.bytes.length
        this.bytes.push(...pointer)
        return at
      }
    }
    const at = this.bytes.length
    if (typeof value === "string") {
      const utf8 = Buffer.from(value, "utf8")
      this.control(Type.string, utf8.length)
      this.bytes.append(utf8)
    } else if (typeof value === "boolean") {
      this.control(Type.boolean, value ? 1 : 0)
    } else if (isUint(value)) {
      const length = byteLength(value.value)
      this.control(value.bits === 16 ? Type.uint16 : value.bits === 32 ? Type.uint32 : Type.uint64, length)
      this.bytes.push(...bigEndian(value.value, length))
    } else if (isArray(value)) {
      this.control(Type.array, value.length)
      for (const item of value) this.write(item)
    } else {
      const map = value as MmdbMap
      const keys = Object.keys(map).sort()
      this.control(Type.map, keys.length)
      for (const name of keys) {
        this.write(name)
        this.write(map[name]!)
      }
    }
    // A pointer must lead to a value, never to another pointer: only inline copies are remembered.
    if (this.pointers && !this.offsets.has(key)) this.offsets.set(key, at)
    return at
  }

  /** The offset of a whole record: identical records are one copy, pointers or not (never a pointer). */
  record(record: DataRecord): number {
    const earlier = this.records.get(record.key) ?? this.offsets.get(record.key)
    if (earlier !== undefined) return earlier
    const at = this.write(record.value, record.key)
    this.records.set(record.key, at)
    return at
  }
}

const METADATA_MARKER = [0xab, 0xcd, 0xef, ...Buffer.from("MaxMind.com", "latin1")]

/** The networks that lead to the IPv4 subtree in an IPv6 tree, as MaxMind's writer aliases them. */
const IPV4_ALIASES = ["::ffff:0:0/96", "2001::/32", "2002::/16"]

/** Does this subtree hold an alias (that an insert would wipe out)? */
const holdsAlias = (slot: Slot): boolean =>
  slot instanceof TreeNode ? holdsAlias(slot.left) || holdsAlias(slot.right) : slot?._tag === "Alias"

/**
 * A new, empty database.
 *
 * @throws MmdbWriteError on options the format cannot hold (`aliasIpv4` in an IPv4 tree).
 */
export const make = (options: MmdbOptions): MmdbWriter => {
  const ipVersion = options.ipVersion ?? 6
  const width = ipVersion === 4 ? 32 : 128
  const recordSize = options.recordSize ?? 24
  const pointers = options.pointers ?? true
  const aliasIpv4 = options.aliasIpv4 ?? ipVersion === 6
  if (aliasIpv4 && ipVersion === 4) throw new MmdbWriteError({ reason: "aliasIpv4 needs an IPv6 tree (ipVersion 6)" })
  const buildEpoch = uint64(options.buildEpoch ?? Math.floor(Date.now() / 1000))
  // The root is a node even in an empty tree: readers start there.
  const root = new TreeNode(undefined, undefined)

  const bitAt = (bits: bigint, depth: number): 0 | 1 => ((bits >> BigInt(width - 1 - depth)) & 1n ? 1 : 0)

  /** Sets the record of `network` to `slot`, making (or splitting) the nodes on its way. */
  const place = (network: string, slot: Slot): void => {
    const { bits, prefix } = parseNetwork(network, width)
    if (prefix === 0) {
      if (holdsAlias(root)) throw new MmdbWriteError({ reason: `${network} would replace the IPv4 aliases` })
      root.left = slot
      root.right = slot
      return
    }
    let node = root
    for (let depth = 0; depth < prefix - 1; depth++) {
      const side = bitAt(bits, depth) ? "right" : "left"
      const next = node[side]
      if (next instanceof TreeNode) {
        node = next
      } else if (next?._tag === "Alias") {
        throw new MmdbWriteError({
          reason: `${network} is inside the IPv4 alias ${next.network}: insert the IPv4 network instead`
        })
      } else {
        // Empty or a wider network's record: both halves start as that, one is then narrowed.
        const child = new TreeNode(next, next)
        node[side] = child
        node = child
      }
    }
    const side = bitAt(bits, prefix - 1) ? "right" : "left"
    if (holdsAlias(node[side])) throw new MmdbWriteError({ reason: `${network} would replace the IPv4 aliases` })
    node[side] = slot
  }

  if (aliasIpv4) for (const network of IPV4_ALIASES) place(network, { _tag: "Alias", network })

  const insert = (network: string, data: MmdbValue): void =>
    place(network, { _tag: "Data", value: data, key: canonical(data) })

  const toBytes = (): Uint8Array => {
    // Nodes numbered depth-first from the root (0).
    const nodes: Array<TreeNode> = []
    const number = new Map<TreeNode, number>()
    const visit = (node: TreeNode): void => {
      number.set(node, nodes.length)
      nodes.push(node)
      if (node.left instanceof TreeNode) visit(node.left)
      if (node.right instanceof TreeNode) visit(node.right)
    }
    visit(root)
    const nodeCount = nodes.length

    // Data records in the order the tree meets them.
    const section = new Section(pointers)
    const offsets = new Map<DataRecord, number>()
    for (const node of nodes) {
      for (const slot of [node.left, node.right]) {
        if (isData(slot) && !offsets.has(slot)) offsets.set(slot, section.record(slot))
      }
    }

    /** What is at `::/96`, where the aliases lead: a node, a wider network's record, or nothing. */
    const ipv4Root = (): Slot => {
      let slot: Slot = root
      for (let depth = 0; depth < 96 && slot instanceof TreeNode; depth++) slot = slot.left
      return slot
    }
    const value = (slot: Slot): number => {
      if (slot === undefined) return nodeCount
      if (slot instanceof TreeNode) return number.get(slot)!
      if (slot._tag === "Alias") return value(ipv4Root())
      return nodeCount + 16 + offsets.get(slot)!
    }
    const maxRecord = 2 ** recordSize - 1
    if (nodeCount + 16 + section.bytes.length > maxRecord) {
      throw new MmdbWriteError({ reason: `the tree and data do not fit in ${recordSize}-bit records` })
    }

    const nodeBytes = recordSize / 4
    const tree = new Uint8Array(nodeCount * nodeBytes)
    nodes.forEach((node, i) => {
      const left = value(node.left)
      const right = value(node.right)
      const at = i * nodeBytes
      if (recordSize === 28) {
        tree.set(bigEndian(left & 0xffffff, 3), at)
        tree[at + 3] = (((left >>> 24) & 0x0f) << 4) | ((right >>> 24) & 0x0f)
        tree.set(bigEndian(right & 0xffffff, 3), at + 4)
      } else {
        tree.set(bigEndian(left, nodeBytes / 2), at)
        tree.set(bigEndian(right, nodeBytes / 2), at + nodeBytes / 2)
      }
    })

    // The metadata is a data section of its own: no pointers (they would be relative to it).
    const metadata = new Section(false)
    metadata.write({
      binary_format_major_version: uint16(2),
      binary_format_minor_version: uint16(0),
      build_epoch: buildEpoch,
      database_type: options.databaseType,
      description: options.description ?? {},
      ip_version: uint16(ipVersion),
      languages: options.languages ?? [],
      node_count: uint32(nodeCount),
      record_size: uint16(recordSize)
    })

    const out = new Uint8Array(tree.length + 16 + section.bytes.length + METADATA_MARKER.length + metadata.bytes.length)
    out.set(tree, 0)
    let at = tree.length + 16
    out.set(section.bytes.view(), at)
    at += section.bytes.length
    out.set(METADATA_MARKER, at)
    out.set(metadata.bytes.view(), at + METADATA_MARKER.length)
    return out
  }

  return { insert, toBytes }
}
