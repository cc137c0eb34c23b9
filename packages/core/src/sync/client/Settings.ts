/**
 * A synced folder's settings: every bound of the client's engine, each with a default, as a Schema
 * so that a daemon's configuration file decodes to it and refuses a bad value with a clear message.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Schema from "effect/Schema"
import * as Schedule from "effect/Schedule"

const Positive = Schema.Int.pipe(Schema.positive())

/**
 * @since 0.1.0
 * @category schemas
 */
export const Settings = Schema.Struct({
  /** A changed file is taken once its size and mtime stayed the same this long (half-written files wait). */
  settleDelay: Schema.optionalWith(Schema.DurationFromMillis, { default: () => Duration.seconds(1) }),
  /** A full scan this often besides the watcher; the only way changes are seen when the watcher failed. */
  rescanInterval: Schema.optionalWith(Schema.DurationFromMillis, { default: () => Duration.minutes(10) }),
  /** Rescan interval while the watcher is down (watch limit hit, overflow that keeps recurring). */
  fallbackRescanInterval: Schema.optionalWith(Schema.DurationFromMillis, { default: () => Duration.seconds(60) }),
  /** Safety halt: one scan may delete at most this share of the folder's files... */
  maxDeleteShare: Schema.optionalWith(Schema.Number.pipe(Schema.between(0, 1)), { default: () => 0.5 }),
  /** ...unless it deletes fewer than this many (a folder of three files may lose two). */
  minDeleteCountForHalt: Schema.optionalWith(Positive, { default: () => 10 }),
  /** Chunk uploads and downloads in flight at once, per file. */
  parallelTransfers: Schema.optionalWith(Positive, { default: () => 4 }),
  /**
   * Files moving at once, per folder: the independent operations of a scan's plan (never two on
   * one path), and the downloads of a catch-up page (fetched at once, applied in number order).
   */
  parallelFiles: Schema.optionalWith(Positive, { default: () => 8 }),
  /**
   * Changes of a catch-up page (or of live changes queued together) whose bytes are fetched ahead
   * before they are applied in number order.
   */
  prefetchWindow: Schema.optionalWith(Positive, { default: () => 64 }),
  /**
   * Files up to this size are uploaded in batches: one question for the chunks the server lacks,
   * the chunks packed together, the commits sent together (a few requests for many small files).
   */
  batchFileBytes: Schema.optionalWith(Positive, { default: () => 1024 * 1024 }),
  /** Chunks one packed upload carries at most (the server's bound may be lower: keep within it). */
  maxBatchChunks: Schema.optionalWith(Positive, { default: () => 1024 }),
  /** Bytes of chunks one packed upload carries at most. */
  maxBatchBytes: Schema.optionalWith(Positive, { default: () => 16 * 1024 * 1024 }),
  /** Commits sent together at most. */
  maxBatchCommits: Schema.optionalWith(Positive, { default: () => 1000 }),
  /** Files a scan stats and reads at once. */
  parallelScans: Schema.optionalWith(Positive, { default: () => 8 }),
  /** Retry of a transient server failure (busy, home unreachable, timeout): first delay... */
  retryBaseDelay: Schema.optionalWith(Schema.DurationFromMillis, { default: () => Duration.millis(200) }),
  /** ...doubling up to this delay... */
  retryMaxDelay: Schema.optionalWith(Schema.DurationFromMillis, { default: () => Duration.seconds(30) }),
  /** ...at most this many times; then the file is an error in the status and is tried at the next scan. */
  retryAttempts: Schema.optionalWith(Schema.Int.pipe(Schema.nonNegative()), { default: () => 8 }),
  /** Deadline of one request to the server. */
  requestTimeout: Schema.optionalWith(Schema.DurationFromMillis, { default: () => Duration.seconds(60) }),
  /**
   * Bytes of chunks the folder's downloads hold in memory at once, shared by the files moving at
   * once (bounds memory whatever the file size).
   */
  chunkCacheBytes: Schema.optionalWith(Positive, { default: () => 64 * 1024 * 1024 }),
  /** Files larger than this are not synced (an error in the status). */
  maxFileSize: Schema.optionalWith(Positive, { default: () => 64 * 1024 * 1024 * 1024 }),
  /** Files in the folder's index; past it new files are errors in the status. */
  maxFiles: Schema.optionalWith(Positive, { default: () => 2_000_000 }),
  /** Commands (scans, changed paths, remote changes) waiting for the folder's worker; producers wait. */
  mailboxCapacity: Schema.optionalWith(Positive, { default: () => 256 }),
  /** Changed paths the watcher holds before settling; past it the folder does one full rescan instead. */
  maxPendingPaths: Schema.optionalWith(Positive, { default: () => 10_000 }),
  /** Catch-up page size (the server bounds it too). */
  pageSize: Schema.optionalWith(Positive, { default: () => 1000 }),
  /** Errors and conflicts the status keeps (newest). */
  maxStatusEntries: Schema.optionalWith(Positive, { default: () => 100 }),
  /**
   * A file whose mtime is this close to the time its stat was recorded is hashed again at the next
   * scan even if its stat is unchanged: a write in the same clock tick leaves size and mtime alone.
   */
  racyWindow: Schema.optionalWith(Schema.DurationFromMillis, { default: () => Duration.seconds(2) }),
  /** Read size when hashing and uploading a file (streamed: memory stays this per file). */
  readChunkSize: Schema.optionalWith(Positive, { default: () => 256 * 1024 }),
  /** Watch the folder (off: periodic scans only). */
  watch: Schema.optionalWith(Schema.Boolean, { default: () => true }),
  /** Follow the server's live events (off: catch-up at each scan only). */
  live: Schema.optionalWith(Schema.Boolean, { default: () => true }),
  /**
   * Sync the folder's `.meridianignore` with the account's other devices that share theirs
   * (opt-in: off, each device keeps its own rules and the file is never sent or taken).
   */
  shareIgnoreFile: Schema.optionalWith(Schema.Boolean, { default: () => false })
})

/**
 * @since 0.1.0
 * @category schemas
 */
export interface Settings extends Schema.Schema.Type<typeof Settings> {}

/**
 * Every default.
 *
 * @since 0.1.0
 * @category constructors
 */
export const defaults: Settings = Schema.decodeSync(Settings)({})

/**
 * Settings from a partial set of already-typed values (tests, the daemon's flags).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (overrides: Partial<Settings> = {}): Settings => ({ ...defaults, ...overrides })

/**
 * The retry schedule of transient failures: exponential from the base delay, capped, bounded in count.
 *
 * @since 0.1.0
 * @category constructors
 */
export const retrySchedule = (settings: Settings): Schedule.Schedule<unknown> =>
  Schedule.exponential(settings.retryBaseDelay).pipe(
    Schedule.modifyDelay((d) => Duration.min(d, settings.retryMaxDelay)),
    Schedule.intersect(Schedule.recurs(settings.retryAttempts))
  )
