/**
 * What the `sync` commands share: the folders this user syncs (kept in
 * `$XDG_CONFIG_HOME/meridian/sync.json`, mode 0600), the device's name, the folder's own state
 * directory (`FOLDER/.meridian/`: the local index, the daemon's status and pid), and requests to
 * the folder's site as this device.
 *
 * @since 0.1.0
 */
import * as Options from "@effect/cli/Options"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs"
import { hostname } from "node:os"
import { dirname, isAbsolute, join, relative, resolve, sep } from "node:path"
import { ClientFailed, tokenPath, usage } from "../client.js"
import { retriesOption, type Retrying } from "../retry.js"

/**
 * The folder's own directory: never synced.
 *
 * @since 0.1.0
 * @category config
 */
export const STATE_DIR = ".meridian"

/**
 * One synced folder: where it is, the site it syncs with, as which device and account.
 *
 * @since 0.1.0
 * @category config
 */
export const Folder = Schema.Struct({
  path: Schema.String,
  url: Schema.String,
  device: Schema.String,
  account: Schema.String,
  addedAt: Schema.Number
})

/**
 * @since 0.1.0
 * @category config
 */
export type Folder = typeof Folder.Type

const Config = Schema.parseJson(Schema.Struct({ folders: Schema.Array(Folder) }))

/**
 * Where the folders are listed.
 *
 * @since 0.1.0
 * @category config
 */
export const configPath = () => join(dirname(tokenPath()), "sync.json")

/**
 * The folders this user syncs (none before the first `sync add`).
 *
 * @since 0.1.0
 * @category config
 */
export const loadFolders: Effect.Effect<ReadonlyArray<Folder>, ClientFailed> = Effect.suspend(() => {
  const file = configPath()
  if (!existsSync(file)) return Effect.succeed([])
  return Schema.decodeUnknown(Config)(readFileSync(file, "utf8")).pipe(
    Effect.map((config) => config.folders),
    Effect.mapError(
      () => new ClientFailed({ message: `${file} is not a folder list; remove it and add the folders again`, code: 2 })
    )
  )
})

/**
 * Writes the folder list whole (a temp file renamed over it: a crash leaves the old list or the new).
 *
 * @since 0.1.0
 * @category config
 */
export const saveFolders = (folders: ReadonlyArray<Folder>) =>
  Effect.sync(() => {
    const file = configPath()
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 })
    const temp = `${file}.${process.pid}.tmp`
    writeFileSync(temp, JSON.stringify({ folders }, null, 2) + "\n", { mode: 0o600 })
    chmodSync(temp, 0o600)
    renameSync(temp, file)
  })

/**
 * This machine's name as a device name (letters, digits, `.`, `_`, `-`; at most 128).
 *
 * @since 0.1.0
 * @category config
 */
export const defaultDevice = (): string => {
  const name = hostname()
    .replace(/[^A-Za-z0-9._-]/g, "-")
    .slice(0, 128)
  return name === "" ? "device" : name
}

/**
 * `--device NAME`, checked like the server checks it.
 *
 * @since 0.1.0
 * @category options
 */
export const deviceOption = Options.text("device").pipe(
  Options.optional,
  Options.withDescription("this device's name, shown in versions and conflict copies (default: the host name)")
)

/**
 * The device name given, or this machine's; a name the server would refuse is bad usage.
 *
 * @since 0.1.0
 * @category config
 */
export const deviceOf = (given: Option.Option<string>) => {
  const name = Option.getOrElse(given, defaultDevice)
  return /^[A-Za-z0-9._-]{1,128}$/.test(name)
    ? Effect.succeed(name)
    : Effect.fail(usage(`${name} is not a device name: use 1 to 128 letters, digits, '.', '_' or '-'`))
}

/**
 * The synced folder that holds `path`, and the path inside it (`/`-separated); bad usage if none does.
 *
 * @since 0.1.0
 * @category config
 */
export const folderOf = (folders: ReadonlyArray<Folder>, path: string) => {
  const absolute = resolve(path)
  for (const folder of folders) {
    const inside = relative(folder.path, absolute)
    if (inside !== "" && !inside.startsWith("..") && !isAbsolute(inside)) {
      const rel = inside.split(sep).join("/")
      if (rel === STATE_DIR || rel.startsWith(`${STATE_DIR}/`)) {
        return Effect.fail(usage(`${path} is the folder's own state, which is not synced`))
      }
      return Effect.succeed({ folder, path: rel })
    }
  }
  return Effect.fail(
    usage(
      folders.length === 0
        ? `${path} is in no synced folder (none yet: meridian sync add FOLDER)`
        : `${path} is in no synced folder (${folders.map((f) => f.path).join(", ")})`
    )
  )
}

/**
 * The folder's state directory.
 *
 * @since 0.1.0
 * @category config
 */
export const stateDirOf = (folder: string) => join(folder, STATE_DIR)

/**
 * A request to the folder's site as its device, with the saved token.
 *
 * @since 0.1.0
 * @category requests
 */
export const authorized = (folder: Folder, token: string) => (request: HttpClientRequest.HttpClientRequest) =>
  request.pipe(HttpClientRequest.bearerToken(token), HttpClientRequest.setHeader("meridian-device", folder.device))

/**
 * `--retries` and `--json`, for the commands that ask the site.
 *
 * @since 0.1.0
 * @category options
 */
export const askOptions = {
  json: Options.boolean("json").pipe(Options.withDescription("print the answer as JSON")),
  retries: retriesOption
}

/**
 * Retries that say so on stderr, unless the answer is JSON.
 *
 * @since 0.1.0
 * @category requests
 */
export const retryingOf = (args: { readonly retries: number; readonly json: boolean }): Retrying => ({
  retries: args.retries,
  note: (line) =>
    Effect.sync(() => {
      if (!args.json) process.stderr.write(`${line}\n`)
    })
})
