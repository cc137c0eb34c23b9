/**
 * Syncthing as a {@link Contender}: two `syncthing serve` processes on loopback, each with its own
 * `--home`, configured by a config.xml written before they start — the GUI/REST API on a free
 * 127.0.0.1 port with a known API key, the sync protocol listening on a free 127.0.0.1 port, each
 * device knowing the other at an explicit `tcp://127.0.0.1:PORT`, global and local discovery,
 * relays, NAT traversal, STUN, usage and crash reporting, upgrades and browser all off, Syncthing's
 * own low-priority renicing off (it runs at the harness' niceness, as ours does). One shared folder,
 * send-receive, its filesystem watcher on with a delay of 1 s.
 *
 * Quiet ({@link Contender.settle}): on both devices the folder is `idle` with nothing needed, and
 * each sees the other at 100 % completion, three polls in a row. Bytes on the wire: A's
 * `/rest/system/connections` total in + out (A has one peer, B), protocol bytes after compression,
 * under TLS.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import { createWriteStream, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { freePort } from "../support.js"
import type { Contender } from "./contender.js"
import { end, note, peakRssOfTree, track, untrack, waitFor } from "./tools.js"

const FOLDER = "bench"
const API_KEY = "meridian-bench-sync-apikey-0123456789"

interface Device {
  readonly name: string
  readonly home: string
  readonly id: string
  readonly guiPort: number
  readonly listenPort: number
  process?: ChildProcess
}

const xml = (text: string) =>
  text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;")

/** A fresh `--home` with its key and certificate (`syncthing generate`), and its device ID. */
const generate = async (name: string, root: string): Promise<Device> => {
  const home = join(root, `syncthing-${name}`)
  mkdirSync(home, { recursive: true })
  const generated = spawnSync(
    "syncthing",
    ["generate", `--home=${home}`, "--no-default-folder", "--skip-port-probing"],
    {
      encoding: "utf8"
    }
  )
  const id = /Device ID: ([A-Z0-9-]+)/.exec(`${generated.stdout}${generated.stderr}`)?.[1]
  if (generated.status !== 0 || id === undefined)
    throw new Error(`syncthing generate: ${generated.status} ${generated.stdout}${generated.stderr}`)
  return { name, home, id, guiPort: await freePort(), listenPort: await freePort() }
}

/** config.xml for `self`, sharing the folder at `path` (if any) with `peers`. */
const configXml = (self: Device, peers: ReadonlyArray<Device>, path: string | undefined) => {
  const device = (d: Device, address: string) => `
    <device id="${d.id}" name="${d.name}" compression="metadata" introducer="false">
        <address>${address}</address>
        <paused>false</paused>
        <autoAcceptFolders>false</autoAcceptFolders>
    </device>`
  const folder =
    path === undefined
      ? ""
      : `
    <folder id="${FOLDER}" label="${FOLDER}" path="${xml(path)}" type="sendreceive" rescanIntervalS="3600" fsWatcherEnabled="true" fsWatcherDelayS="1" ignorePerms="false" autoNormalize="true">
        <filesystemType>basic</filesystemType>
${[self, ...peers].map((d) => `        <device id="${d.id}" introducedBy=""></device>`).join("\n")}
        <minDiskFree unit="%">1</minDiskFree>
        <paused>false</paused>
    </folder>`
  return `<configuration version="36">${folder}${device(self, "dynamic")}${peers
    .map((p) => device(p, `tcp://127.0.0.1:${p.listenPort}`))
    .join("")}
    <gui enabled="true" tls="false" debugging="false">
        <address>127.0.0.1:${self.guiPort}</address>
        <apikey>${API_KEY}</apikey>
    </gui>
    <options>
        <listenAddress>tcp://127.0.0.1:${self.listenPort}</listenAddress>
        <globalAnnounceEnabled>false</globalAnnounceEnabled>
        <localAnnounceEnabled>false</localAnnounceEnabled>
        <relaysEnabled>false</relaysEnabled>
        <natEnabled>false</natEnabled>
        <urAccepted>-1</urAccepted>
        <crashReportingEnabled>false</crashReportingEnabled>
        <startBrowser>false</startBrowser>
        <autoUpgradeIntervalH>0</autoUpgradeIntervalH>
        <stunKeepaliveStartS>0</stunKeepaliveStartS>
        <stunServer></stunServer>
        <announceLANAddresses>false</announceLANAddresses>
        <reconnectionIntervalS>5</reconnectionIntervalS>
        <setLowPriority>false</setLowPriority>
        <restartOnWakeup>false</restartOnWakeup>
    </options>
</configuration>
`
}

const launch = (device: Device) => {
  const log = createWriteStream(join(device.home, "syncthing.log"))
  const child = spawn(
    "syncthing",
    [
      "serve",
      `--home=${device.home}`,
      "--no-browser",
      "--no-restart",
      "--no-upgrade",
      "--no-default-folder",
      "--skip-port-probing",
      `--gui-address=http://127.0.0.1:${device.guiPort}`,
      `--gui-apikey=${API_KEY}`,
      "--logflags=3"
    ],
    {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, STNORESTART: "1", STNOUPGRADE: "1", STNODEFAULTFOLDER: "1" }
    }
  )
  track({ child })
  child.stdout.pipe(log)
  child.stderr.pipe(log)
  child.on("exit", (code, signal) => {
    if (device.process === child && code !== 0 && signal === null)
      note(`syncthing ${device.name} exited with ${code} (log: ${join(device.home, "syncthing.log")})`)
  })
  device.process = child
}

const api = async <A = Record<string, unknown>>(device: Device, path: string): Promise<A> => {
  const response = await fetch(`http://127.0.0.1:${device.guiPort}${path}`, { headers: { "X-API-Key": API_KEY } })
  if (!response.ok) throw new Error(`${device.name} GET ${path}: ${response.status} ${await response.text()}`)
  return (await response.json()) as A
}

interface FolderStatus {
  readonly state: string
  readonly localFiles: number
  readonly globalFiles: number
  readonly needTotalItems: number
  readonly errors: number
  readonly pullErrors: number
}

interface Connections {
  readonly connections: Record<string, { readonly connected: boolean }>
  readonly total: { readonly inBytesTotal: number; readonly outBytesTotal: number }
}

const status = (device: Device) => api<FolderStatus>(device, `/rest/db/status?folder=${FOLDER}`)

const completion = (device: Device, of: Device) =>
  api<{ completion: number; needItems: number }>(device, `/rest/db/completion?folder=${FOLDER}&device=${of.id}`)

const quiet = async (device: Device, peer: Device) => {
  const [s, c] = await Promise.all([status(device), completion(device, peer)])
  return s.state === "idle" && s.needTotalItems === 0 && c.completion === 100 && c.needItems === 0
}

export const syncthing = (): Contender => {
  let root: string | undefined
  let devices: ReadonlyArray<Device> = []

  const stopAll = async () => {
    await Promise.all(devices.map((d) => (d.process === undefined ? undefined : end(d.process))))
    devices = []
    if (root !== undefined) {
      rmSync(root, { recursive: true, force: true })
      untrack({ dir: root })
    }
    root = undefined
  }

  const settle = async () => {
    const [a, b] = devices as [Device, Device]
    let streak = 0
    await waitFor(
      async () => {
        streak = (await quiet(a, b)) && (await quiet(b, a)) ? streak + 1 : 0
        return streak >= 3
      },
      "syncthing: both devices quiet",
      600_000,
      100
    )
  }

  return {
    name: "syncthing",
    async start(dirA, dirB) {
      root = mkdtempSync(join(tmpdir(), "bench-sync-st-"))
      track({ dir: root })
      const a = await generate("a", root)
      const b = await generate("b", root)
      devices = [a, b]
      for (const [self, peer, dir] of [
        [a, b, dirA],
        [b, a, dirB]
      ] as const) {
        mkdirSync(join(dir, ".stfolder"), { recursive: true })
        writeFileSync(join(self.home, "config.xml"), configXml(self, [peer], dir))
        launch(self)
      }
      await waitFor(
        async () => {
          const [ca, cb] = await Promise.all([
            api<Connections>(a, "/rest/system/connections"),
            api<Connections>(b, "/rest/system/connections")
          ])
          return ca.connections[b.id]?.connected === true && cb.connections[a.id]?.connected === true
        },
        "syncthing: devices connected",
        120_000,
        100
      )
      await settle()
    },
    settle,
    async bytesOnWire() {
      const connections = await api<Connections>(devices[0]!, "/rest/system/connections")
      return connections.total.inBytesTotal + connections.total.outBytesTotal
    },
    async peakRssBytes() {
      return devices.map((d) => peakRssOfTree(d.process?.pid))
    },
    stop: stopAll,
    async initialScan(dir, files) {
      const scanRoot = mkdtempSync(join(tmpdir(), "bench-sync-st-scan-"))
      track({ dir: scanRoot })
      const device = await generate("scan", scanRoot)
      try {
        mkdirSync(join(dir, ".stfolder"), { recursive: true })
        writeFileSync(join(device.home, "config.xml"), configXml(device, [], dir))
        const start = performance.now()
        launch(device)
        let seen: FolderStatus | undefined
        await waitFor(
          async () => {
            seen = await status(device)
            return seen.state === "idle" && seen.localFiles === files
          },
          `syncthing: initial scan of ${files} files`,
          1_800_000
        )
        const seconds = (performance.now() - start) / 1000
        const peakRssBytes = peakRssOfTree(device.process?.pid)
        if (seen !== undefined && seen.errors > 0) note(`syncthing scan: ${seen.errors} folder errors`)
        return { seconds, peakRssBytes }
      } finally {
        if (device.process !== undefined) await end(device.process)
        rmSync(scanRoot, { recursive: true, force: true })
        untrack({ dir: scanRoot })
      }
    }
  }
}
