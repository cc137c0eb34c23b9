import * as NodeContext from "@effect/platform-node/NodeContext"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { spawn } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as DataLock from "../src/site/DataLock.js"
import * as Stores from "../src/site/Stores.js"

const tempDir = () => mkdtempSync(join(tmpdir(), "meridian-lock-"))

/** The pid of a process that has exited (and been reaped). */
const deadPid = () =>
  Effect.promise(
    () =>
      new Promise<number>((resolve) => {
        const proc = spawn(process.execPath, ["-e", ""], { stdio: "ignore" })
        proc.once("exit", () => resolve(proc.pid!))
      })
  )

describe("DataLock", () => {
  it.scoped("a held lock refuses a second holder, naming the pid; closing the scope releases it", () =>
    Effect.gen(function* () {
      const file = join(tempDir(), "nested", DataLock.SITE_LOCK)
      yield* Effect.scoped(
        Effect.gen(function* () {
          yield* DataLock.acquire(file, "first")
          expect(readFileSync(file, "utf8")).toBe(`${process.pid}\nfirst\n`)
          const second = yield* Effect.flip(Effect.scoped(DataLock.acquire(file, "second")))
          expect(second).toBeInstanceOf(DataLock.Locked)
          expect(second.message).toContain(`is in use by process ${process.pid}`)
          // The refused second try left the first holder's lock in place.
          expect(DataLock.holder(file)).toBe(process.pid)
        })
      )
      expect(existsSync(file)).toBe(false)
      yield* DataLock.acquire(file, "again")
      expect(DataLock.holder(file)).toBe(process.pid)
    })
  )

  it.scoped("a lock left by a process that died is taken over", () =>
    Effect.gen(function* () {
      const file = join(tempDir(), DataLock.SITE_LOCK)
      const dead = yield* deadPid()
      writeFileSync(file, `${dead}\nmeridian site data directory\n`)
      expect(DataLock.holder(file)).toBe(undefined)
      yield* DataLock.acquire(file, "after a crash")
      expect(readFileSync(file, "utf8")).toBe(`${process.pid}\nafter a crash\n`)
    })
  )

  it.scoped("a site's stores lock its data directory: a second opening of it fails", () =>
    Effect.gen(function* () {
      const dataDir = tempDir()
      yield* Layer.build(Stores.layer({ dataDir, secret: "test-secret" }))
      const second = yield* Effect.flip(Effect.scoped(Layer.build(Stores.layer({ dataDir, secret: "test-secret" }))))
      expect(second._tag).toBe("Locked")
      expect(second.message).toContain(`${dataDir} is in use by process ${process.pid}`)
    }).pipe(Effect.provide(NodeContext.layer))
  )
})
