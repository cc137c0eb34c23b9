/**
 * `meridian sync add FOLDER`: records a folder to sync with the logged-in account, as this device.
 * The site (`--url`, `--site`, else the one the user logged in at) is asked where the account's
 * numbering stands, which also registers the device; then the folder's state directory is made
 * and the folder listed for `meridian sync run`.
 *
 * @since 0.1.0
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { ChangesPage } from "@meridian/core/sync/Protocol"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { mkdirSync, statSync } from "node:fs"
import { isAbsolute, relative, resolve } from "node:path"
import { baseUrl, ClientFailed, loadToken, print, targetOptions, usage } from "../client.js"
import { ask, decodeJson, refused } from "../http.js"
import type { Modules } from "../modules.js"
import { retriesOption } from "../retry.js"
import { authorized, deviceOf, deviceOption, loadFolders, retryingOf, saveFolders, stateDirOf } from "./common.js"

const Head = ChangesPage.pipe(Schema.pick("indexId", "head"))

/** Whether `a` is `b` or inside it. */
const within = (a: string, b: string) => {
  const r = relative(b, a)
  return r === "" || (!r.startsWith("..") && !isAbsolute(r))
}

/**
 * @since 0.1.0
 * @category commands
 */
export const addCommand = (modules: Modules) =>
  Command.make(
    "add",
    {
      ...targetOptions,
      retries: retriesOption,
      device: deviceOption,
      folder: Args.directory({ name: "FOLDER", exists: "yes" }).pipe(
        Args.withDescription("the folder to keep in sync on every device of the account")
      )
    },
    (args) =>
      Effect.gen(function* () {
        const saved = yield* loadToken
        const device = yield* deviceOf(args.device)
        const path = resolve(args.folder)
        if (!statSync(path).isDirectory()) return yield* usage(`${args.folder} is not a directory`)
        const folders = yield* loadFolders
        const overlapping = folders.find((f) => within(path, f.path) || within(f.path, path))
        if (overlapping !== undefined) {
          return yield* usage(
            overlapping.path === path
              ? `${path} is synced already (with ${overlapping.url} as ${overlapping.device})`
              : `${path} overlaps the synced folder ${overlapping.path}: a folder cannot hold or be inside another`
          )
        }
        const url =
          Option.isSome(args.url) || Option.isSome(args.site) || Option.isSome(args.topology)
            ? yield* baseUrl(args, modules)
            : saved.url.replace(/\/+$/, "")
        const folder = { path, url, device, account: saved.name, addedAt: Date.now() }
        const reply = yield* ask(
          retryingOf(args),
          authorized(folder, saved.token)(HttpClientRequest.get(`${url}/v1/sync/head`)),
          { what: `the sync service at ${url}`, busy: true }
        )
        if (reply.status === 404 && !reply.body.includes('"error"')) {
          return yield* new ClientFailed({
            message: `${url} runs no sync service (GET /v1/sync/head: 404); name a site that does with --site or --url`,
            code: 1
          })
        }
        if (reply.status !== 200) return yield* refused(`the sync service at ${url}`, reply)
        const head = yield* decodeJson(Head, `the sync service at ${url}`)(reply)
        mkdirSync(stateDirOf(path), { recursive: true, mode: 0o700 })
        yield* saveFolders([...folders, folder])
        return yield* print(args.json, { ...folder, indexId: head.indexId, head: head.head }, () =>
          [
            `added ${path}: synced with ${url} as device ${device} of ${saved.name}`,
            `the account is at change ${head.head}; start syncing with: meridian sync run`
          ].join("\n")
        )
      })
  ).pipe(Command.withDescription("add a folder to keep in sync on every device of your account"))
