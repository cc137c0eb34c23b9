/**
 * `npm run bench:sync`: folder sync (issue 15) against real peers measured in the same run, on
 * loopback only:
 *
 * - Syncthing (two `syncthing serve` processes, filesystem watcher delay 1 s; `sync/syncthing.ts`),
 * - rsync (a local `rsync --daemon`, bytes from `--stats`; `sync/rsync.ts`),
 * - ours (`sync/ours.ts`), once `meridian sync` exists.
 *
 * Workloads, every byte from a seed (`sync/workload.ts`), in temporary directories that are removed:
 *
 * (a) 10,000 files of 1–8 KiB in 4 subdirectories written on A; (b) one file of
 * `SYNC_BENCH_BIG_MIB` MiB (default 1024), written outside the folder and renamed in; (c) ten
 * 100-byte in-place edits of it at seeded offsets; (d) one byte inserted at its start (written
 * whole outside the folder, renamed over it); (p) push latency: 20 single 1 KiB files, one after
 * the other; (e) the initial scan of `SYNC_BENCH_SCAN_FILES` (default 100,000) files of 1–8 KiB by
 * one fresh device, and its peak RSS.
 *
 * Timing: from the moment A's write is complete (the last file closed or renamed) until B's folder
 * holds the data, the harness checking B's files every 50 ms — a cheap check (sizes, the edited
 * ranges, the first and last bytes) that, once it passes, is confirmed by comparing SHA-256 of
 * every changed file (not timed; when it fails, polling goes on). Bytes on the wire for (c) and
 * (d): the contender's counter (both directions) before the change and after both devices are
 * quiet again. rsync pushes the same versions (c) and (d) to its daemon, which holds the previous
 * one (its time is the client's wall time: no change detection in it). Push latency: p50 and p99
 * of 20 (p99 of 20 is the slowest). The scan (e) is timed from the device's process start until
 * it has indexed every file. Peak RSS: VmHWM of the device processes (for Syncthing the serving
 * child of its monitor), the larger of A and B.
 *
 * With `ours` missing (or `--baseline-only`), prints the baselines as a table on stderr and no JSON
 * line: a line needs a value of ours. With ours, one JSON object per line (name, value, unit,
 * baseline, ratio = value/baseline, better) for every measurement ours has; everything else on
 * stderr.
 */
import { copyFileSync, mkdirSync, mkdtempSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs"
import { open } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { line } from "./support.js"
import type { Contender } from "./sync/contender.js"
import { ours } from "./sync/ours.js"
import { type RsyncPush, rsyncDaemon } from "./sync/rsync.js"
import { syncthing } from "./sync/syncthing.js"
import { ensureTools, note, sleep, track, untrack, versionOf } from "./sync/tools.js"
import {
  bigFile,
  type Edit,
  applyEdits,
  insertAtStart,
  KiB,
  MiB,
  planEdits,
  random,
  sha256,
  sha256File,
  smallFiles,
  type Written
} from "./sync/workload.js"

const BIG_BYTES = Number(process.env.SYNC_BENCH_BIG_MIB ?? 1024) * MiB
const SMALL_FILES = Number(process.env.SYNC_BENCH_FILES ?? 10_000)
const SCAN_FILES = Number(process.env.SYNC_BENCH_SCAN_FILES ?? 100_000)
const PUSHES = 20
const POLL_MILLIS = 50
const SEED = 0x5eed
const baselineOnly = process.argv.includes("--baseline-only") || ours === undefined

// ---------------------------------------------------------------------------------------------
// B holds the data: a cheap check every 50 ms, confirmed by SHA-256
// ---------------------------------------------------------------------------------------------

const readRange = async (path: string, offset: number, length: number) => {
  const handle = await open(path, "r")
  try {
    const buffer = Buffer.alloc(length)
    const { bytesRead } = await handle.read(buffer, 0, length, offset)
    return buffer.subarray(0, bytesRead)
  } finally {
    await handle.close()
  }
}

const sizeOf = (path: string) => {
  try {
    return statSync(path).size
  } catch {
    return -1
  }
}

/**
 * Seconds from now until `cheap` holds and `confirm` agrees (polling every 50 ms); the time is that
 * of the poll where `cheap` passed, `confirm` (slow: full hashes) not counted.
 */
const until = async (what: string, cheap: () => Promise<boolean>, confirm: () => Promise<boolean>) => {
  const start = performance.now()
  const deadline = start + 1_800_000
  while (performance.now() < deadline) {
    if (await cheap().catch(() => false)) {
      const seconds = (performance.now() - start) / 1000
      if (await confirm().catch(() => false)) return seconds
      note(`${what}: B's copy passed the quick check but not SHA-256; polling on`)
    }
    await sleep(POLL_MILLIS)
  }
  throw new Error(`${what}: B did not hold the data within 30 minutes`)
}

/** B holds `files`: each present with its size (checked only while missing), then every SHA-256. */
const holdsFiles = (dirB: string, files: ReadonlyArray<Written>, what: string) => {
  let pending = [...files]
  return until(
    what,
    async () => {
      pending = pending.filter((f) => sizeOf(join(dirB, f.path)) !== f.size)
      return pending.length === 0
    },
    async () => {
      const wrong: Array<Written> = []
      for (const f of files) if ((await sha256File(join(dirB, f.path))) !== f.sha256) wrong.push(f)
      pending = wrong
      return wrong.length === 0
    }
  )
}

const quantile = (values: ReadonlyArray<number>, q: number) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!
}

// ---------------------------------------------------------------------------------------------
// one contender through the workloads
// ---------------------------------------------------------------------------------------------

interface Figures {
  smallFilesSeconds?: number
  bigFileSeconds?: number
  editSeconds?: number
  editBytes?: number
  insertSeconds?: number
  insertBytes?: number
  pushP50Millis?: number
  pushP99Millis?: number
  peakRssMiB?: number
  scanSeconds?: number
  scanPeakRssMiB?: number
  rsyncEditSeconds?: number
  rsyncEditBytes?: number
  rsyncInsertSeconds?: number
  rsyncInsertBytes?: number
}

/**
 * Runs (a)–(d), (p) and (e) with `contender`; with `rsync`, also pushes versions (c) and (d) to an
 * rsync daemon (once A and B are quiet again, so the two never run at once).
 */
const measure = async (contender: Contender, withRsync: boolean): Promise<Figures> => {
  const figures: Figures = {}
  const root = mkdtempSync(join(tmpdir(), `bench-sync-${contender.name}-`))
  track({ dir: root })
  const dirA = join(root, "a")
  const dirB = join(root, "b")
  const scratch = join(root, "scratch")
  for (const dir of [dirA, dirB, scratch]) mkdirSync(dir)
  const daemon = withRsync ? await rsyncDaemon() : undefined
  try {
    note(`${contender.name}: starting two devices`)
    await contender.start(dirA, dirB)

    // (a) 10,000 small files
    {
      const files = smallFiles(dirA, SMALL_FILES, SEED, "d")
      const seconds = await holdsFiles(dirB, files, "(a) small files")
      figures.smallFilesSeconds = seconds
      note(`${contender.name}: (a) ${SMALL_FILES} files on B after ${seconds.toFixed(2)} s`)
      await contender.settle()
    }

    // (b) one big file, written outside the folder and renamed in
    const big = join(dirA, "big.bin")
    const bigB = join(dirB, "big.bin")
    {
      const outside = join(scratch, "big.bin")
      const hash = bigFile(outside, BIG_BYTES, SEED + 1)
      renameSync(outside, big)
      figures.bigFileSeconds = await until(
        "(b) big file",
        async () => sizeOf(bigB) === BIG_BYTES,
        async () => (await sha256File(bigB)) === hash
      )
      note(`${contender.name}: (b) ${BIG_BYTES / MiB} MiB on B after ${figures.bigFileSeconds.toFixed(2)} s`)
      await contender.settle()
      if (daemon !== undefined) copyFileSync(big, join(daemon.dir, "big.bin"))
    }

    // (c) ten 100-byte in-place edits
    {
      const before = await contender.bytesOnWire()
      const edits: ReadonlyArray<Edit> = planEdits(BIG_BYTES, SEED + 2)
      const hash = await sha256File(big, edits)
      applyEdits(big, edits)
      figures.editSeconds = await until(
        "(c) edits",
        async () => {
          if (sizeOf(bigB) !== BIG_BYTES) return false
          for (const edit of edits)
            if (!(await readRange(bigB, edit.offset, edit.bytes.length)).equals(edit.bytes)) return false
          return true
        },
        async () => (await sha256File(bigB)) === hash
      )
      await contender.settle()
      figures.editBytes = (await contender.bytesOnWire()) - before
      note(
        `${contender.name}: (c) 10 edits on B after ${figures.editSeconds.toFixed(2)} s, ${figures.editBytes} bytes on the wire`
      )
      if (daemon !== undefined) {
        const push = await daemon.push(big, "big.bin")
        figures.rsyncEditSeconds = push.seconds
        figures.rsyncEditBytes = push.bytes
        report("rsync (c)", push)
      }
    }

    // (d) one byte inserted at the start
    {
      const before = await contender.bytesOnWire()
      const head = await readRange(big, 0, 64 * KiB)
      const tail = await readRange(big, BIG_BYTES - 64 * KiB, 64 * KiB)
      const hash = await insertAtStart(big, join(scratch, "big.bin"), 0x2a)
      const expectedHead = Buffer.concat([Buffer.from([0x2a]), head]).subarray(0, 64 * KiB)
      figures.insertSeconds = await until(
        "(d) insertion",
        async () =>
          sizeOf(bigB) === BIG_BYTES + 1 &&
          (await readRange(bigB, 0, 64 * KiB)).equals(expectedHead) &&
          (await readRange(bigB, BIG_BYTES + 1 - 64 * KiB, 64 * KiB)).equals(tail),
        async () => (await sha256File(bigB)) === hash
      )
      await contender.settle()
      figures.insertBytes = (await contender.bytesOnWire()) - before
      note(
        `${contender.name}: (d) insertion on B after ${figures.insertSeconds.toFixed(2)} s, ${figures.insertBytes} bytes on the wire`
      )
      if (daemon !== undefined) {
        const push = await daemon.push(big, "big.bin")
        figures.rsyncInsertSeconds = push.seconds
        figures.rsyncInsertBytes = push.bytes
        report("rsync (d)", push)
      }
    }

    // (p) push latency: single small files, one after the other
    {
      const rng = random(SEED + 3)
      mkdirSync(join(dirA, "push"))
      const millis: Array<number> = []
      for (let i = 0; i < PUSHES; i++) {
        const bytes = rng.bytes(KiB)
        const path = join("push", `p${i}.bin`)
        writeFileSync(join(dirA, path), bytes)
        const seconds = await holdsFiles(dirB, [{ path, size: bytes.length, sha256: sha256(bytes) }], "(p) push")
        millis.push(seconds * 1000)
        await contender.settle()
      }
      figures.pushP50Millis = quantile(millis, 0.5)
      figures.pushP99Millis = quantile(millis, 0.99)
      note(
        `${contender.name}: (p) push latency over ${PUSHES}: p50 ${figures.pushP50Millis.toFixed(0)} ms, p99 ${figures.pushP99Millis.toFixed(0)} ms (${millis.map((m) => m.toFixed(0)).join(" ")})`
      )
    }

    if (contender.peakRssBytes !== undefined) {
      const peaks = await contender.peakRssBytes()
      figures.peakRssMiB = Math.max(...peaks) / MiB
      note(`${contender.name}: peak RSS of the devices ${peaks.map((p) => (p / MiB).toFixed(0)).join(" and ")} MiB`)
    }
  } finally {
    await contender.stop()
    await daemon?.stop()
    rmSync(root, { recursive: true, force: true })
    untrack({ dir: root })
  }

  // (e) the initial scan of 100,000 files by a fresh device
  if (contender.initialScan !== undefined && SCAN_FILES > 0) {
    const scanRoot = mkdtempSync(join(tmpdir(), `bench-sync-${contender.name}-scan-`))
    track({ dir: scanRoot })
    try {
      note(`${contender.name}: writing ${SCAN_FILES} files for the scan`)
      smallFiles(scanRoot, SCAN_FILES, SEED + 4, "s", 10)
      const scan = await contender.initialScan(scanRoot, SCAN_FILES)
      figures.scanSeconds = scan.seconds
      figures.scanPeakRssMiB = scan.peakRssBytes / MiB
      note(
        `${contender.name}: (e) scan of ${SCAN_FILES} files in ${scan.seconds.toFixed(2)} s, peak RSS ${figures.scanPeakRssMiB.toFixed(0)} MiB`
      )
    } finally {
      rmSync(scanRoot, { recursive: true, force: true })
      untrack({ dir: scanRoot })
    }
  }
  return figures
}

const report = (what: string, push: RsyncPush) =>
  note(`${what}: ${push.seconds.toFixed(2)} s, ${push.bytes} bytes (sent ${push.sent}, received ${push.received})`)

// ---------------------------------------------------------------------------------------------
// the run
// ---------------------------------------------------------------------------------------------

const started = performance.now()
ensureTools()
note(`${versionOf("syncthing")}; ${versionOf("rsync")}`)
note(
  `workloads: ${SMALL_FILES} files, a ${BIG_BYTES / MiB} MiB file, 10 edits, 1 insertion, ${PUSHES} pushes, a scan of ${SCAN_FILES} files`
)
const base = await measure(syncthing(), true)
const mine = baselineOnly || ours === undefined ? undefined : await measure(ours(), false)

type Row = readonly [name: string, unit: string, better: "lower" | "higher", ours: keyof Figures, base: keyof Figures]
const rows: ReadonlyArray<Row> = [
  ["sync-small-files-vs-syncthing", "s", "lower", "smallFilesSeconds", "smallFilesSeconds"],
  ["sync-big-file-vs-syncthing", "s", "lower", "bigFileSeconds", "bigFileSeconds"],
  ["sync-edit-vs-syncthing", "s", "lower", "editSeconds", "editSeconds"],
  ["sync-edit-vs-rsync", "s", "lower", "editSeconds", "rsyncEditSeconds"],
  ["sync-edit-bytes-vs-syncthing", "B", "lower", "editBytes", "editBytes"],
  ["sync-edit-bytes-vs-rsync", "B", "lower", "editBytes", "rsyncEditBytes"],
  ["sync-insert-vs-syncthing", "s", "lower", "insertSeconds", "insertSeconds"],
  ["sync-insert-vs-rsync", "s", "lower", "insertSeconds", "rsyncInsertSeconds"],
  ["sync-insert-bytes-vs-syncthing", "B", "lower", "insertBytes", "insertBytes"],
  ["sync-insert-bytes-vs-rsync", "B", "lower", "insertBytes", "rsyncInsertBytes"],
  ["sync-push-latency-p50-vs-syncthing", "ms", "lower", "pushP50Millis", "pushP50Millis"],
  ["sync-push-latency-p99-vs-syncthing", "ms", "lower", "pushP99Millis", "pushP99Millis"],
  ["sync-peak-rss-vs-syncthing", "MiB", "lower", "peakRssMiB", "peakRssMiB"],
  ["sync-scan-vs-syncthing", "s", "lower", "scanSeconds", "scanSeconds"],
  ["sync-scan-peak-rss-vs-syncthing", "MiB", "lower", "scanPeakRssMiB", "scanPeakRssMiB"]
]

console.error("\nbench:sync baselines (measured in this run):")
console.error(`  ${"measurement".padEnd(36)}${"baseline".padStart(16)}  unit`)
for (const [name, unit, , , key] of rows) {
  const value = base[key]
  if (value !== undefined)
    console.error(`  ${name.padEnd(36)}${(unit === "B" ? String(value) : value.toFixed(2)).padStart(16)}  ${unit}`)
}
if (mine === undefined)
  console.error(
    `\nbench:sync: ${ours === undefined ? "ours (bench/sync/ours.ts) is not built yet" : "--baseline-only"}: no JSON line printed`
  )
else
  for (const [name, unit, better, mineKey, baseKey] of rows) {
    const value = mine[mineKey]
    const against = base[baseKey]
    if (value !== undefined && against !== undefined) line(name, value, unit, against, better, unit === "B" ? 0 : 2)
  }
console.error(`bench:sync: ${((performance.now() - started) / 1000).toFixed(0)} s in all`)
