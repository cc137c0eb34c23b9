import { describe, it } from "@effect/vitest"
import * as Conformance from "@meridian/core/stores/Conformance"
import type * as Staging from "@meridian/core/stores/Staging"
import * as Effect from "effect/Effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as DiskStaging from "../src/files/DiskStaging.js"

/** Each staging area in its own temp directory, removed when the case ends. */
const make: Conformance.Make<Staging.StagingService> = () =>
  Effect.acquireRelease(
    Effect.sync(() => mkdtempSync(join(tmpdir(), "meridian-staging-"))),
    (directory) => Effect.sync(() => rmSync(directory, { recursive: true, force: true }))
  ).pipe(Effect.flatMap((directory) => DiskStaging.make({ directory })))

describe("Staging conformance: DiskStaging", () => {
  for (const c of Conformance.staging) it.scoped(c.name, () => c.run(make))
})
