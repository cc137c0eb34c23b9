/**
 * rsync as the delta-transfer baseline: a local `rsync --daemon` on a free 127.0.0.1 port with one
 * writable module over a temporary directory (the receiver, holding the old version), and `rsync
 * --stats` pushing the new version to `rsync://127.0.0.1:PORT/mod/` (the rolling-checksum delta:
 * the receiver's block signatures one way, the delta the other). Bytes on the wire: "Total bytes
 * sent" + "Total bytes received" of `--stats`; time: the client's wall time.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { freePort } from "../support.js"
import { end, note, track, untrack, waitFor } from "./tools.js"
import { createConnection } from "node:net"

export interface RsyncPush {
  readonly seconds: number
  readonly bytes: number
  readonly sent: number
  readonly received: number
}

const listening = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = createConnection({ host: "127.0.0.1", port })
    socket.once("connect", () => {
      socket.destroy()
      resolve(true)
    })
    socket.once("error", () => resolve(false))
  })

const number = (stats: string, label: string) => {
  const match = new RegExp(`${label}: ([\\d,.]+)`).exec(stats)
  if (match === null) throw new Error(`rsync --stats: no "${label}" in\n${stats}`)
  return Number(match[1]!.replace(/[,.]/g, ""))
}

/** A running rsync daemon whose module `mod` is `dir` (under a fresh temporary root). */
export const rsyncDaemon = async () => {
  const root = mkdtempSync(join(tmpdir(), "bench-sync-rsync-"))
  track({ dir: root })
  const dir = join(root, "mod")
  mkdirSync(dir)
  const port = await freePort()
  const config = join(root, "rsyncd.conf")
  writeFileSync(
    config,
    [
      "use chroot = no",
      `uid = ${process.getuid?.() ?? 0}`,
      `gid = ${process.getgid?.() ?? 0}`,
      `log file = ${join(root, "rsyncd.log")}`,
      "[mod]",
      `  path = ${dir}`,
      "  read only = no",
      ""
    ].join("\n")
  )
  const daemon: ChildProcess = spawn(
    "rsync",
    ["--daemon", "--no-detach", `--config=${config}`, `--port=${port}`, "--address=127.0.0.1"],
    { stdio: ["ignore", "ignore", "pipe"] }
  )
  track({ child: daemon })
  daemon.stderr?.on("data", (d: Buffer) => note(`rsync daemon: ${d.toString().trim()}`))
  await waitFor(() => listening(port), "rsync daemon listening", 30_000, 50)

  /** Pushes the local file `source` to `mod/name`, with `--stats`. */
  const push = (source: string, name: string) =>
    new Promise<RsyncPush>((resolve, reject) => {
      const start = performance.now()
      const client = spawn(
        "rsync",
        ["--stats", "--times", "--ignore-times", source, `rsync://127.0.0.1:${port}/mod/${name}`],
        {
          stdio: ["ignore", "pipe", "pipe"]
        }
      )
      let out = ""
      client.stdout.on("data", (d: Buffer) => (out += d.toString()))
      client.stderr.on("data", (d: Buffer) => (out += d.toString()))
      client.on("error", reject)
      client.on("exit", (code) => {
        const seconds = (performance.now() - start) / 1000
        if (code !== 0) return reject(new Error(`rsync push: exit ${code}\n${out}`))
        try {
          const sent = number(out, "Total bytes sent")
          const received = number(out, "Total bytes received")
          resolve({ seconds, sent, received, bytes: sent + received })
        } catch (error) {
          reject(error)
        }
      })
    })

  return {
    dir,
    push,
    async stop() {
      await end(daemon)
      rmSync(root, { recursive: true, force: true })
      untrack({ dir: root })
    }
  }
}
