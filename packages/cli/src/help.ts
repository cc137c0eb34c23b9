/**
 * The binary's help, rendered from the command tree that @effect/cli parses with: a one-line
 * summary per command, the usage as the user types it (`meridian files send FILE --to USER…`),
 * the flags with what they mean and their defaults, and examples. @effect/cli's own help
 * (`HelpDoc.toAnsiText`) cannot be configured: it always colours, never wraps, and repeats
 * "This setting is optional." under every flag; so the binary answers `--help`, `-h` and
 * `meridian help [COMMAND…]` itself and leaves parsing to @effect/cli.
 *
 * Colour only on a terminal and without `NO_COLOR`; lines wrapped to the terminal's width, else
 * `HELP_WIDTH`.
 *
 * @since 0.1.0
 */
import type * as Command from "@effect/cli/Command"
import type * as HelpDoc from "@effect/cli/HelpDoc"
import type * as Span from "@effect/cli/HelpDoc/Span"
import * as Option from "effect/Option"

/**
 * Help is wrapped to this width when standard output is not a terminal.
 *
 * @since 0.1.0
 * @category limits
 */
export const HELP_WIDTH = 80

/**
 * Help is never wider than this, however wide the terminal: long lines are hard to read.
 *
 * @since 0.1.0
 * @category limits
 */
export const MAX_HELP_WIDTH = 100

/**
 * Examples, by command path: what a user types, and what it does. Every command has some (a test
 * walks the tree).
 *
 * @since 0.1.0
 * @category help
 */
export const examples: Readonly<Record<string, ReadonlyArray<readonly [command: string, what: string]>>> = {
  up: [
    ["meridian up", "run every site of ./meridian.yaml (or the bundled example); Ctrl-C stops them"],
    ["meridian up examples/four-regions.yaml", "run the sites of another topology"]
  ],
  run: [["meridian run --topology examples/three-regions.yaml --site n1", "run one site in this terminal"]],
  down: [["meridian down", "stop the sites a `meridian up` started here"]],
  "topology check": [["meridian topology check examples/three-regions.yaml", "every problem at once; exit 1 if any"]],
  "topology graph": [
    ["meridian topology graph examples/three-regions.yaml | dot -Tsvg > t.svg", "draw it (needs Graphviz)"],
    ["meridian topology graph --mermaid examples/three-regions.yaml", "Mermaid, for Markdown"]
  ],
  sim: [
    ["meridian sim --scenario examples/scenarios/partition.yaml --seed 1", "faults in simulated time"],
    ["meridian sim --scenario examples/scenarios/files.yaml --seed 7", "another seed, another run"]
  ],
  "account create": [
    ["meridian account create alice", "a user; the password is asked on the terminal"],
    ['echo "$PASSWORD" | meridian account create alice --region south', "from a script, home in the south"],
    ["meridian account create ops --operator --site n1", "the first operator, in n1's data directory"]
  ],
  "account login": [["meridian account login alice --site s1", "log in at s1 and keep the token"]],
  "account logout": [["meridian account logout", "revoke the saved token everywhere"]],
  "account token": [['curl -H "Authorization: Bearer $(meridian account token)" …', "use the token"]],
  status: [
    ["meridian status --site s1", "links, routes, actors and dead letters of s1"],
    ["meridian status --url http://127.0.0.1:8101 --json", "the same as JSON"]
  ],
  "link down": [["meridian link down --peer s1 --site n1", "maintenance on n1–s1: traffic goes around"]],
  "link up": [["meridian link up --peer s1 --site n1", "back in service"]],
  "deadletters list": [["meridian deadletters list --limit 20", "the 20 newest dead letters"]],
  "deadletters replay": [["meridian deadletters replay 12 13", "send dead letters 12 and 13 again"]],
  "deadletters purge": [["meridian deadletters purge --all", "forget every dead letter"]],
  "chat send": [["meridian chat send south.5f3a… 'hello'", "send to a group (its id from group create)"]],
  "chat tail": [
    ["meridian chat tail south.5f3a…", "the group's history"],
    ["meridian chat tail south.5f3a… --follow", "and new messages as they come"]
  ],
  "chat group create": [
    ["meridian chat group create team --member bob --member carol", "prints the new group's id"],
    ["meridian chat group create ops --set topic=incidents --home north", "a free-form setting"]
  ],
  "chat group show": [["meridian chat group show south.5f3a…", "name, notice, settings, members"]],
  "chat group edit": [["meridian chat group edit south.5f3a… --notice 'standup at 9'", "change the notice"]],
  "chat group members": [
    ["meridian chat group members south.5f3a… --add dave", "add a member"],
    ["meridian chat group members south.5f3a… --remove bob", "remove one"]
  ],
  "files send": [
    ["meridian files send report.pdf --to bob", "upload for bob; run it again to resume"],
    ["meridian files send big.iso --to bob,carol --expires 7d --limit-rate 1M", "two recipients, slowly"]
  ],
  "files inbox": [["meridian files inbox", "files sent to you and by you"]],
  "files get": [
    ["meridian files get 3f9c… ", "download into the current directory; run it again to resume"],
    ["meridian files get 3f9c… --output /tmp/report.pdf", "somewhere else"]
  ],
  "files rm": [
    ["meridian files rm 3f9c…", "delete a transfer you sent, or cancel its unfinished upload"],
    ["meridian files rm 3f9c… --json", "what was removed, as JSON"]
  ],
  "sync add": [
    ["meridian sync add ~/Documents", "sync ~/Documents with your account, as this machine"],
    ["meridian sync add ~/Work --url http://127.0.0.1:8102 --device laptop", "with another site, under another name"]
  ],
  "sync run": [
    ["meridian sync run", "the daemon, in this terminal (Ctrl-C stops it)"],
    ["ExecStart=meridian sync run", "as a systemd service (SIGTERM stops it cleanly)"]
  ],
  "sync status": [
    ["meridian sync status", "each folder: state, files, last change, transfers, conflicts, errors"],
    ["meridian sync status --json", "the same, as JSON"]
  ],
  "sync versions": [["meridian sync versions ~/Documents/report.txt", "the older versions the server keeps"]],
  "sync resume": [["meridian sync resume ~/Documents", "the deletions that halted it are meant: sync them"]],
  "sync restore": [["meridian sync restore ~/Documents/report.txt --version 3", "bring version 3 back as the newest"]],
  "ping echo": [["meridian ping echo hi --site n1 --to s1", "an ask from n1 to s1's echo actor"]],
  "ping counter": [["meridian ping counter --site s1", "s1's durable counter"]],
  "ping increment": [["meridian ping increment 5 --site n1 --to s1", "five durable increments"]]
}

// ---------------------------------------------------------------------------------------------
// the command tree, as @effect/cli (0.77) builds it
// ---------------------------------------------------------------------------------------------

/** @effect/cli's option and argument nodes: only the fields help reads. */
interface CliNode {
  readonly _tag: string
  readonly name?: string
  readonly aliases?: ReadonlyArray<string>
  readonly pseudoName?: Option.Option<string>
  readonly primitiveType?: { readonly _tag: string; readonly alternatives?: ReadonlyArray<readonly [string, unknown]> }
  readonly pathType?: string
  readonly description?: HelpDoc.HelpDoc
  readonly options?: CliNode
  readonly args?: CliNode
  readonly argumentOption?: CliNode
  readonly left?: CliNode
  readonly right?: CliNode
  readonly min?: Option.Option<number>
  readonly fallback?: unknown
  readonly command?: CliNode
  readonly parent?: CliNode
  readonly children?: ReadonlyArray<CliNode>
}

/**
 * One flag or argument as help shows it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Param {
  /** `--url URL`, `-o, --output FILE`, `FILE`. */
  readonly label: string
  readonly description: string
  readonly optional: boolean
  readonly repeatable: boolean
  readonly fallback: string | undefined
}

/**
 * One command of the tree.
 *
 * @since 0.1.0
 * @category models
 */
export interface Node {
  readonly name: string
  readonly description: string
  readonly options: ReadonlyArray<Param>
  readonly args: ReadonlyArray<Param>
  readonly children: ReadonlyArray<Node>
}

const spanText = (span: Span.Span): string => {
  switch (span._tag) {
    case "Text":
    case "URI":
      return span.value
    case "Sequence":
      return spanText(span.left) + spanText(span.right)
    default:
      return spanText(span.value)
  }
}

const docText = (doc: HelpDoc.HelpDoc | undefined): ReadonlyArray<string> => {
  if (doc === undefined) return []
  switch (doc._tag) {
    case "Empty":
      return []
    case "Header":
    case "Paragraph":
      return [spanText(doc.value)]
    case "Sequence":
      return [...docText(doc.left), ...docText(doc.right)]
    case "Enumeration":
      return doc.elements.flatMap(docText)
    case "DescriptionList":
      return doc.definitions.flatMap(([span, d]) => [spanText(span), ...docText(d)])
  }
}

/** What a text flag's value is, by the flag's name, where its name does not say it. */
const PLACEHOLDERS: Readonly<Record<string, string>> = {
  to: "USER",
  member: "USER",
  add: "USER",
  remove: "USER",
  set: "KEY=VALUE",
  "chunk-size": "SIZE",
  "limit-rate": "RATE",
  expires: "DURATION",
  home: "REGION",
  region: "REGION",
  peer: "SITE",
  notice: "TEXT",
  output: "PATH"
}

/** What a value of this primitive looks like, for a flag that has no pseudo-name. */
const placeholderOf = (node: CliNode, name: string): string | undefined => {
  if (node.pseudoName !== undefined && Option.isSome(node.pseudoName)) return node.pseudoName.value
  const primitive = node.primitiveType
  switch (primitive?._tag) {
    case "Bool":
      return undefined
    case "Choice":
      return (primitive.alternatives ?? []).map(([choice]) => choice).join("|")
    case "Integer":
      return "N"
    case "Float":
      return "NUMBER"
    case "Path":
      return (primitive as { pathType?: string }).pathType === "directory" ? "DIR" : "FILE"
    default:
      return PLACEHOLDERS[name] ?? name.replace(/-/g, "_").toUpperCase()
  }
}

const fallbackOf = (fallback: unknown): string | undefined => {
  if (Option.isOption(fallback)) return Option.isSome(fallback) ? String(fallback.value) : undefined
  if (fallback === false || fallback === undefined || fallback === null) return undefined
  if (Array.isArray(fallback)) return fallback.length === 0 ? undefined : fallback.join(",")
  return String(fallback)
}

interface Modifiers {
  readonly optional: boolean
  readonly repeatable: boolean
  readonly fallback: string | undefined
}

const plain: Modifiers = { optional: false, repeatable: false, fallback: undefined }

const options = (node: CliNode | undefined, m: Modifiers = plain): ReadonlyArray<Param> => {
  if (node === undefined) return []
  switch (node._tag) {
    case "Single": {
      const name = node.name ?? ""
      const flag = name.length === 1 ? `-${name}` : `--${name}`
      const aliases = (node.aliases ?? []).map((a) => (a.length === 1 ? `-${a}` : `--${a}`))
      const value = placeholderOf(node, name)
      const isBool = node.primitiveType?._tag === "Bool"
      return [
        {
          label: [...aliases, flag].join(", ") + (value === undefined ? "" : ` ${value}`),
          description: docText(node.description).join(" "),
          optional: m.optional || isBool,
          repeatable: m.repeatable,
          fallback: m.fallback
        }
      ]
    }
    case "Both":
    case "OrElse":
      return [...options(node.left, m), ...options(node.right, m)]
    case "Map":
    case "WithFallback":
      return options(node.options, m)
    case "WithDefault":
      return options(node.options, { ...m, optional: true, fallback: m.fallback ?? fallbackOf(node.fallback) })
    case "Variadic": {
      const min = node.min !== undefined ? Option.getOrElse(node.min, () => 0) : 0
      return options(node.argumentOption, { ...m, optional: m.optional || min === 0, repeatable: true })
    }
    case "KeyValueMap":
      return options(node.argumentOption, { ...m, repeatable: true })
    default:
      return []
  }
}

const args = (node: CliNode | undefined, m: Modifiers = plain): ReadonlyArray<Param> => {
  if (node === undefined) return []
  switch (node._tag) {
    case "Single":
      return [
        {
          label: Option.getOrElse(node.pseudoName ?? Option.none(), () => node.name ?? "ARG"),
          description: docText(node.description).join(" "),
          ...m
        }
      ]
    case "Both":
      return [...args(node.left, m), ...args(node.right, m)]
    case "Map":
    case "WithFallbackConfig":
      return args(node.args, m)
    case "WithDefault":
      return args(node.args, { ...m, optional: true, fallback: m.fallback ?? fallbackOf(node.fallback) })
    case "Variadic": {
      const min = node.min !== undefined ? Option.getOrElse(node.min, () => 0) : 0
      return args(node.args, { ...m, optional: m.optional || min === 0, repeatable: true })
    }
    default:
      return []
  }
}

const nodeOf = (node: CliNode): Node => {
  switch (node._tag) {
    case "Standard":
    case "GetUserInput":
      return {
        name: node.name ?? "",
        description: docText(node.description).join("\n"),
        options: options(node.options),
        args: args(node.args),
        children: []
      }
    case "Map":
      return nodeOf(node.command!)
    case "Subcommands":
      return { ...nodeOf(node.parent!), children: (node.children ?? []).map(nodeOf) }
    default:
      throw new Error(`help: unknown @effect/cli command node ${node._tag}`)
  }
}

/**
 * The command tree of `command`, as help shows it.
 *
 * @since 0.1.0
 * @category help
 */
export const treeOf = <Name extends string, R, E, A>(command: Command.Command<Name, R, E, A>): Node =>
  nodeOf(command.descriptor as unknown as CliNode)

/**
 * The longest command path named by `argv` (the arguments after the binary), e.g. `files send`.
 *
 * @since 0.1.0
 * @category help
 */
export const pathOf = (root: Node, argv: ReadonlyArray<string>): ReadonlyArray<Node> => {
  const path: Array<Node> = [root]
  for (const arg of argv) {
    if (arg === "--") break
    const next = path[path.length - 1]!.children.find((c) => c.name === arg)
    if (next !== undefined) path.push(next)
  }
  return path
}

/**
 * What the user asked help for, if anything: `--help`/`-h` anywhere before `--`, `help [COMMAND…]`,
 * or a command group named without one of its commands (`meridian files`).
 *
 * @since 0.1.0
 * @category help
 */
export const helpRequest = (root: Node, argv: ReadonlyArray<string>): ReadonlyArray<Node> | undefined => {
  const end = argv.indexOf("--")
  const before = end === -1 ? argv : argv.slice(0, end)
  if (before[0] === "help") return pathOf(root, before.slice(1))
  if (before.includes("--help") || before.includes("-h")) return pathOf(root, before)
  if (before.includes("--version") || before.includes("--completions") || before.includes("--wizard")) return undefined
  const path = pathOf(root, before)
  const last = path[path.length - 1]!
  return last.children.length > 0 && before.every((a) => !a.startsWith("-") || a === "--log-level") ? path : undefined
}

// ---------------------------------------------------------------------------------------------
// rendering
// ---------------------------------------------------------------------------------------------

/**
 * How help is printed: the width and whether headings are bold.
 *
 * @since 0.1.0
 * @category help
 */
export interface Style {
  readonly width: number
  readonly color: boolean
}

/**
 * The style for standard output: colour only on a terminal and without `NO_COLOR` (or with
 * `TERM=dumb`); the terminal's width (at most `MAX_HELP_WIDTH`), else `HELP_WIDTH`.
 *
 * @since 0.1.0
 * @category help
 */
export const styleOf = (
  stream: { readonly isTTY?: boolean; readonly columns?: number },
  env: Readonly<Record<string, string | undefined>>
): Style => {
  const tty = stream.isTTY === true
  return {
    width:
      tty && stream.columns !== undefined && stream.columns > 20
        ? Math.min(stream.columns, MAX_HELP_WIDTH)
        : HELP_WIDTH,
    color: tty && (env.NO_COLOR === undefined || env.NO_COLOR === "") && env.TERM !== "dumb"
  }
}

/** `text` broken into lines of at most `width` columns (a longer word stands alone). */
const wrap = (text: string, width: number): ReadonlyArray<string> => {
  const lines: Array<string> = []
  for (const paragraph of text.split("\n")) {
    let line = ""
    for (const word of paragraph.split(/\s+/).filter((w) => w !== "")) {
      if (line !== "" && line.length + 1 + word.length > width) {
        lines.push(line)
        line = word
      } else line = line === "" ? word : `${line} ${word}`
    }
    lines.push(line)
  }
  return lines
}

/** `text` wrapped to `width`, every line indented by `indent` spaces. */
const indented = (text: string, indent: number, width: number) =>
  wrap(text, Math.max(20, width - indent)).map((line) => " ".repeat(indent) + line)

/** Two columns: `left` padded, `right` wrapped beside it (below it when `left` is too wide). */
const columns = (rows: ReadonlyArray<readonly [string, string]>, style: Style): ReadonlyArray<string> => {
  const indent = 2
  const gap = 2
  const leftWidth = Math.min(Math.max(0, ...rows.map(([l]) => l.length)), Math.floor(style.width * 0.4))
  const rightWidth = Math.max(20, style.width - indent - leftWidth - gap)
  return rows.flatMap(([left, right]) => {
    const text = wrap(right, rightWidth)
    const pad = " ".repeat(indent + leftWidth + gap)
    if (left.length > leftWidth) {
      return [" ".repeat(indent) + left, ...text.filter((t) => t !== "").map((t) => pad + t)]
    }
    return text.map((t, i) => (i === 0 ? " ".repeat(indent) + left.padEnd(leftWidth + gap) + t : pad + t).trimEnd())
  })
}

const heading = (text: string, style: Style) => (style.color ? `\u001b[1m${text}\u001b[0m` : text)

/** A command's one-line summary: its description up to the first `;`, `:` or `. ` outside brackets. */
const summaryOf = (node: Node) => {
  const text = node.description.split("\n")[0]!
  let depth = 0
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!
    if (c === "(" || c === "[") depth++
    else if (c === ")" || c === "]") depth--
    else if (depth === 0 && (c === ";" || c === ":" || c === ".") && text[i + 1] === " ") return text.slice(0, i)
  }
  return text
}

/** The flags every client command shares: listed after a command's own. */
const SHARED = new Set(["--topology", "--site", "--url", "--json", "--retries"])
const shared = (p: Param) => SHARED.has(p.label.split(" ")[0]!)

const paramUsage = (p: Param) => `${p.label}${p.repeatable ? "..." : ""}`

const leaves = (node: Node, prefix: ReadonlyArray<string>): ReadonlyArray<readonly [string, Node]> =>
  node.children.length === 0 ? [[prefix.join(" "), node]] : node.children.flatMap((c) => leaves(c, [...prefix, c.name]))

const describeParam = (p: Param) =>
  [
    p.description,
    p.repeatable ? "(repeatable)" : "",
    p.fallback === undefined || p.description.includes("default") ? "" : `(default ${p.fallback})`
  ]
    .filter((s) => s !== "")
    .join(" ")

/**
 * The help of the command at the end of `path` (the root first).
 *
 * @since 0.1.0
 * @category help
 */
export const render = (path: ReadonlyArray<Node>, style: Style): string => {
  const node = path[path.length - 1]!
  const names = path.map((n) => n.name)
  const full = names.join(" ")
  const out: Array<string> = []
  const section = (title: string, lines: ReadonlyArray<string>) => {
    if (lines.length === 0) return
    out.push("", heading(title, style), ...lines)
  }
  if (node.children.length > 0) {
    out.push(...wrap(`usage: ${full} COMMAND [options]`, style.width))
    out.push("", ...wrap(node.description, style.width))
    const rows = path.length === 1 ? leaves(node, []) : node.children.map((c) => [c.name, c] as const)
    section(
      "Commands:",
      columns(
        rows.map(([name, n]) => [name, summaryOf(n)]),
        style
      )
    )
    if (path.length === 1) {
      section(
        "Options:",
        columns(
          [
            ["-h, --help", "show help (also: meridian help COMMAND)"],
            ["--version", "print the version"],
            ["--log-level LEVEL", "all|trace|debug|info|warning|error|fatal|none (default info)"],
            ["--completions SHELL", "print a completion script for sh|bash|fish|zsh"]
          ],
          style
        )
      )
    }
    out.push("", ...wrap(`Run '${full} COMMAND --help' for a command's flags and examples.`, style.width))
    return out.join("\n")
  }
  const required = node.options.filter((o) => !o.optional)
  const usage = [
    full,
    ...node.args.map((a) => (a.optional ? `[${paramUsage(a)}]` : paramUsage(a))),
    ...required.map(paramUsage),
    ...(node.options.length > required.length ? ["[options]"] : [])
  ].join(" ")
  out.push(...wrap(`usage: ${usage}`, style.width).map((line, i) => (i === 0 ? line : `         ${line}`)))
  out.push("", ...wrap(node.description, style.width))
  section(
    "Arguments:",
    columns(
      node.args.map((a) => [a.label, describeParam(a)]),
      style
    )
  )
  section(
    "Options:",
    columns(
      [
        ...required,
        ...node.options.filter((o) => o.optional && !shared(o)),
        ...node.options.filter((o) => o.optional && shared(o))
      ].map((o) => [o.label, (o.optional ? "" : "required: ") + describeParam(o)]),
      style
    )
  )
  const given = examples[names.slice(1).join(" ")] ?? []
  section(
    "Examples:",
    given.flatMap(([command, what]) => [...indented(command, 2, style.width), ...indented(what, 6, style.width)])
  )
  return out.join("\n")
}
