/**
 * What a scan means: from the folder's index and what the scan saw, the operations to send to the
 * server. Pure, so its rules are tested without a disk or a server.
 *
 * - A path whose content differs from its entry (or that was never committed) is a **Put** on the
 *   entry's version (0 for a new path; a tombstone's version for a path created again).
 * - A file of the index that the scan did not find is a **Delete** of its version, unless a new
 *   path of the same scan holds the same content (same manifest): then it is a **Rename** (nothing
 *   uploaded). A directory renamed is one Rename per file: the protocol renames files.
 * - **Safety halt**: a full scan that would delete more than `maxDeleteShare` of the folder's files
 *   (and at least `minDeleteCountForHalt`) sends nothing at all: an unmounted disk looks exactly
 *   like that, and its deletes would wipe every other device.
 *
 * @since 0.1.0
 */
import type { LocalEntry } from "./LocalIndex.js"
import type { Content, Stat } from "./Scanner.js"
import type { Settings } from "./Settings.js"

/**
 * What the scan saw of one path in its scope.
 *
 * @since 0.1.0
 * @category models
 */
export type Observation =
  | { readonly _tag: "Absent" }
  /** The stat matches the index: not read. */
  | { readonly _tag: "Unchanged"; readonly stat: Stat }
  /** Read: its content now. */
  | { readonly _tag: "Read"; readonly content: Content }

/**
 * @since 0.1.0
 * @category models
 */
export type Action =
  | { readonly _tag: "Put"; readonly path: string; readonly base: number; readonly content: Content }
  /** Same content as the index, new stat: only the index changes. */
  | { readonly _tag: "Touch"; readonly path: string; readonly content: Content }
  | { readonly _tag: "Delete"; readonly path: string; readonly base: number }
  | {
      readonly _tag: "Rename"
      readonly from: string
      readonly to: string
      readonly base: number
      readonly content: Content
    }

/**
 * @since 0.1.0
 * @category models
 */
export interface Plan {
  readonly actions: ReadonlyArray<Action>
  /** Set when the safety halt stopped the plan: why (nothing is sent). */
  readonly halted: string | undefined
}

/**
 * The plan for the paths a scan looked at.
 *
 * @param entries the index's entries of the scan's scope (all of them for a full scan)
 * @param observed what the scan saw, for the same paths and any new ones
 * @param full a full scan (the only kind the safety halt applies to: a partial scan sees few paths)
 * @param folderFiles the folder's files in the index (the safety halt's denominator)
 *
 * @since 0.1.0
 * @category planning
 */
export const plan = (
  entries: ReadonlyMap<string, LocalEntry>,
  observed: ReadonlyMap<string, Observation>,
  options: { readonly full: boolean; readonly folderFiles: number; readonly settings: Settings }
): Plan => {
  const puts: Array<Extract<Action, { _tag: "Put" }>> = []
  const touches: Array<Action> = []
  const gone: Array<LocalEntry> = []
  for (const [path, o] of observed) {
    const entry = entries.get(path)
    if (o._tag === "Absent") {
      if (entry !== undefined && !entry.deleted) gone.push(entry)
      continue
    }
    // Unchanged: the scanner reads every file never committed, so an unread one needs nothing.
    if (o._tag === "Unchanged") continue
    const base = entry?.version ?? 0
    if (entry !== undefined && !entry.deleted && entry.version > 0 && entry.manifest === o.content.digest) {
      touches.push({ _tag: "Touch", path, content: o.content })
    } else {
      puts.push({ _tag: "Put", path, base, content: o.content })
    }
  }
  for (const [path, entry] of entries) {
    if (!observed.has(path) && options.full && !entry.deleted) gone.push(entry)
  }
  // Renames: a gone file and a new path (no live entry) with the same manifest, paired in path order.
  const newByDigest = new Map<string, Array<Extract<Action, { _tag: "Put" }>>>()
  for (const p of puts) {
    const entry = entries.get(p.path)
    if (entry !== undefined && !entry.deleted) continue
    const list = newByDigest.get(p.content.digest)
    if (list === undefined) newByDigest.set(p.content.digest, [p])
    else list.push(p)
  }
  const renamed = new Set<string>()
  const renames: Array<Action> = []
  const deletes: Array<Action> = []
  for (const entry of gone) {
    const candidates = entry.version > 0 ? newByDigest.get(entry.manifest) : undefined
    const target = candidates?.shift()
    if (target !== undefined) {
      renamed.add(target.path)
      renames.push({ _tag: "Rename", from: entry.path, to: target.path, base: entry.version, content: target.content })
    } else if (entry.version > 0) {
      deletes.push({ _tag: "Delete", path: entry.path, base: entry.version })
    } else {
      // Never committed and gone: only the index forgets it.
      deletes.push({ _tag: "Delete", path: entry.path, base: 0 })
    }
  }
  const { maxDeleteShare, minDeleteCountForHalt } = options.settings
  const realDeletes = deletes.filter((d) => d._tag === "Delete" && d.base > 0).length
  if (
    options.full &&
    realDeletes >= minDeleteCountForHalt &&
    realDeletes > maxDeleteShare * Math.max(1, options.folderFiles)
  ) {
    return {
      actions: [],
      halted:
        `this scan would delete ${realDeletes} of the folder's ${options.folderFiles} files ` +
        `(over ${Math.round(maxDeleteShare * 100)}%): nothing was sent. Is the disk mounted? ` +
        `Resume the folder to send the deletes.`
    }
  }
  return {
    actions: [...renames, ...puts.filter((p) => !renamed.has(p.path)), ...touches, ...deletes],
    halted: undefined
  }
}
