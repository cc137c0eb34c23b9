/**
 * A folder's status, readable at any time (`meridian sync status` shows it): what the engine is
 * doing, how much the folder holds, how far it has caught up, what is moving, and the conflicts
 * and errors it met (the newest, bounded).
 *
 * @since 0.1.0
 */

/**
 * @since 0.1.0
 * @category models
 */
export type State = "starting" | "scanning" | "syncing" | "idle" | "halted" | "error"

/**
 * One file moving.
 *
 * @since 0.1.0
 * @category models
 */
export interface Transfer {
  readonly path: string
  readonly direction: "upload" | "download"
  readonly bytes: number
  readonly done: number
}

/**
 * A conflict the engine resolved by keeping both: `copy` holds the bytes that lost.
 *
 * @since 0.1.0
 * @category models
 */
export interface Conflict {
  readonly path: string
  readonly copy: string
  readonly at: number
  readonly reason: string
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Problem {
  readonly path: string | undefined
  readonly message: string
  readonly at: number
}

/**
 * @since 0.1.0
 * @category models
 */
export interface FolderStatus {
  readonly root: string
  readonly device: string
  readonly state: State
  /** Why the folder is halted or in error. */
  readonly reason: string | undefined
  /** Files and bytes the index holds. */
  readonly files: number
  readonly bytes: number
  readonly indexId: string
  readonly lastSeq: number
  /** `watching`, or `periodic` when the watcher failed or is off (changes seen by rescans only). */
  readonly watcher: "watching" | "periodic"
  readonly watcherNote: string | undefined
  readonly inFlight: ReadonlyArray<Transfer>
  readonly conflicts: ReadonlyArray<Conflict>
  readonly errors: ReadonlyArray<Problem>
}

/**
 * A status before the first scan.
 *
 * @since 0.1.0
 * @category constructors
 */
export const initial = (root: string, device: string): FolderStatus => ({
  root,
  device,
  state: "starting",
  reason: undefined,
  files: 0,
  bytes: 0,
  indexId: "",
  lastSeq: 0,
  watcher: "periodic",
  watcherNote: undefined,
  inFlight: [],
  conflicts: [],
  errors: []
})

/**
 * Adds to a bounded list, keeping the newest.
 *
 * @since 0.1.0
 * @category combinators
 */
export const pushBounded = <A>(list: ReadonlyArray<A>, item: A, max: number): ReadonlyArray<A> =>
  list.length >= max ? [...list.slice(list.length - max + 1), item] : [...list, item]
