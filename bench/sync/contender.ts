/**
 * What a folder-sync implementation gives `npm run bench:sync` (`bench/sync.ts`): two devices that
 * keep two folders the same, and what they cost. The harness writes on device A's folder and
 * watches device B's folder itself (the files, every 50 ms), so a contender needs no notion of
 * "done": only to start, to say when it is quiet, to count its bytes, and to stop.
 *
 * Syncthing is one (`syncthing.ts`); Meridian's own `meridian sync` is the other (`ours.ts`).
 */

export interface Contender {
  /** A short name for the report: "syncthing", "meridian". */
  readonly name: string
  /**
   * Starts two devices, A syncing `dirA` and B syncing `dirB` (both exist and are empty), connected
   * to each other over 127.0.0.1 only; resolves once they are connected and quiet, so that timing
   * can start.
   */
  start(dirA: string, dirB: string): Promise<void>
  /**
   * Resolves once both devices are quiet: nothing left to scan, send or fetch, each side knowing the
   * other is up to date (its acknowledgements and index updates exchanged), so that
   * {@link bytesOnWire} no longer moves for the last change.
   */
  settle(): Promise<void>
  /**
   * Bytes on the wire between the two devices since {@link start}, both directions added up
   * (everything the sync protocol sends: indexes, manifests, requests, data, acknowledgements).
   * The harness reads it before and after a change.
   */
  bytesOnWire(): Promise<number>
  /** The peak resident set of each device process so far (bytes, VmHWM), when there are processes. */
  peakRssBytes?(): Promise<ReadonlyArray<number>>
  /** Stops both devices; their folders stay. */
  stop(): Promise<void>
  /**
   * The initial scan: one device started on `dir`, which already holds `files` files and which it
   * has never seen; resolves with the seconds from its start until it has indexed every file (it
   * could serve them to a peer) and its process' peak resident set (VmHWM) then. Stops it again.
   */
  initialScan?(dir: string, files: number): Promise<{ readonly seconds: number; readonly peakRssBytes: number }>
}
