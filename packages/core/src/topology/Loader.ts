/**
 * Topology files: YAML or JSON text in, a checked `Topology` out. The caller reads the file (the
 * CLI with `@effect/platform`'s FileSystem), so this module stays free of Node APIs.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import { parseDocument } from "yaml"
import * as Check from "./Check.js"
import type { Problem, Topology } from "./Topology.js"
import { decodeEither, decodeUnknown, problemsFromParseError, salvage, TopologyError } from "./Topology.js"

/**
 * `yaml` and `auto` both read YAML (a superset of JSON); `json` accepts strict JSON only.
 *
 * @since 0.1.0
 * @category models
 */
export type Format = "yaml" | "json" | "auto"

/**
 * Bound on alias expansion while reading YAML, so a small file cannot expand into a huge value
 * ("billion laughs").
 *
 * @since 0.1.0
 * @category constants
 */
export const MAX_ALIAS_COUNT = 100

const firstLine = (message: string): string => message.split("\n")[0].replace(/ at line \d+, column \d+:?$/, "")

const readYaml = (text: string): { readonly value: unknown } | { readonly problems: ReadonlyArray<Problem> } => {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true })
  if (doc.errors.length > 0) {
    return {
      problems: doc.errors.map((error) => {
        const pos = error.linePos?.[0]
        return {
          path: pos === undefined ? "(syntax)" : `line ${pos.line}, column ${pos.col}`,
          message: `YAML syntax error: ${firstLine(error.message)}`
        }
      })
    }
  }
  try {
    return { value: doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT }) }
  } catch (error) {
    return { problems: [{ path: "(syntax)", message: `YAML error: ${firstLine(String(error))}` }] }
  }
}

const readJson = (text: string): { readonly value: unknown } | { readonly problems: ReadonlyArray<Problem> } => {
  try {
    return { value: JSON.parse(text) }
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error)
    const lineCol = /line (\d+) column (\d+)/.exec(message)
    const position = /position (\d+)/.exec(message)
    let path = "(syntax)"
    if (lineCol !== null) {
      path = `line ${lineCol[1]}, column ${lineCol[2]}`
    } else if (position !== null) {
      const before = text.slice(0, Number(position[1])).split("\n")
      path = `line ${before.length}, column ${before[before.length - 1].length + 1}`
    }
    return { problems: [{ path, message: `JSON syntax error: ${message}` }] }
  }
}

/**
 * Reads the text (syntax errors become problems with line and column) and decodes its structure.
 * No semantic checks: see {@link load}.
 *
 * @since 0.1.0
 * @category loading
 */
export const parse = (text: string, format: Format = "auto"): Effect.Effect<Topology, TopologyError> =>
  Effect.suspend(() => {
    const read = format === "json" ? readJson(text) : readYaml(text)
    return "problems" in read ? Effect.fail(new TopologyError({ problems: read.problems })) : decodeUnknown(read.value)
  })

/**
 * Decodes any value (already-parsed JSON, a builder's input) and runs every semantic check.
 *
 * @since 0.1.0
 * @category loading
 */
export const validate = (input: unknown, options: Check.CheckOptions = {}): Effect.Effect<Topology, TopologyError> =>
  Effect.suspend(() => {
    const decoded = decodeEither(input)
    if (decoded._tag === "Right") return Check.check(decoded.right, options)
    const structural = problemsFromParseError(decoded.left)
    // Every problem at once: the semantic checks run on what decodes once the refused parts
    // are set aside, rather than waiting for a second run.
    const salvaged = salvage(input, decoded.left)
    const retried = salvaged === undefined ? undefined : decodeEither(salvaged)
    const semantic = retried?._tag === "Right" ? Check.problems(retried.right, options) : []
    return Effect.fail(new TopologyError({ problems: [...structural, ...semantic] }))
  })

/**
 * @since 0.1.0
 * @category models
 */
export interface LoadOptions extends Check.CheckOptions {
  readonly format?: Format | undefined
}

/**
 * Text to a valid topology: {@link parse} then `Check.check`, reporting every problem found.
 * Pass the module registry in `modules` to also check module names and settings.
 *
 * @since 0.1.0
 * @category loading
 */
export const load = (text: string, options: LoadOptions = {}): Effect.Effect<Topology, TopologyError> =>
  Effect.suspend(() => {
    const read = (options.format ?? "auto") === "json" ? readJson(text) : readYaml(text)
    return "problems" in read
      ? Effect.fail(new TopologyError({ problems: read.problems }))
      : validate(read.value, options)
  })
