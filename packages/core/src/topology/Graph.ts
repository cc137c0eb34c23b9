/**
 * Pictures of a topology: Graphviz DOT and Mermaid. Regions are clusters, sites are nodes with
 * their addresses, links are edges (labelled when the dialler uses another address). Output is
 * sorted so that the same topology always draws the same text (diffable, testable).
 *
 * @since 0.1.0
 */
import type { Link, Topology } from "./Topology.js"

const sorted = (record: object): ReadonlyArray<string> => Object.keys(record).sort()

const sortedLinks = (topology: Topology): ReadonlyArray<Link> =>
  [...topology.links].sort((x, y) => {
    const a = `${x.between[0]}\u0000${x.between[1]}\u0000${x.dial ?? ""}`
    const b = `${y.between[0]}\u0000${y.between[1]}\u0000${y.dial ?? ""}`
    return a < b ? -1 : a > b ? 1 : 0
  })

/** Sites grouped by region (sorted); sites whose region is not declared come last, ungrouped. */
const groups = (topology: Topology) => {
  const byRegion = new Map<string, Array<string>>(sorted(topology.regions).map((r) => [r, []]))
  const orphans: Array<string> = []
  for (const site of sorted(topology.sites)) {
    const members = byRegion.get(topology.sites[site].region)
    if (members) members.push(site)
    else orphans.push(site)
  }
  return { byRegion, orphans }
}

const regionLabel = (topology: Topology, region: string): string =>
  region === topology.defaultRegion ? `${region} (default)` : region

// -----------------------------------------------------------------------------
// Graphviz
// -----------------------------------------------------------------------------

/** A DOT quoted string; `\n` in `text` becomes a DOT line break. */
const dotString = (text: string): string =>
  `"${text.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\r?\n/g, "\\n")}"`

/**
 * Graphviz DOT (`dot -Tsvg`): one `cluster_<region>` subgraph per region, sites labelled with
 * their name and addresses, links as undirected edges.
 *
 * @since 0.1.0
 * @category rendering
 */
export const toDot = (topology: Topology): string => {
  const { byRegion, orphans } = groups(topology)
  const node = (site: string, indent: string): string => {
    const { http, tcp } = topology.sites[site]
    return `${indent}${dotString(site)} [label=${dotString(`${site}\ntcp ${tcp}\nhttp ${http}`)}];`
  }
  const lines = [`graph ${dotString(topology.name)} {`, `  label=${dotString(topology.name)};`, `  node [shape=box];`]
  for (const [region, sites] of byRegion) {
    lines.push(`  subgraph ${dotString(`cluster_${region}`)} {`)
    lines.push(`    label=${dotString(regionLabel(topology, region))};`)
    for (const site of sites) lines.push(node(site, "    "))
    lines.push(`  }`)
  }
  for (const site of orphans) lines.push(node(site, "  "))
  for (const link of sortedLinks(topology)) {
    const [a, b] = link.between
    const label = link.dial === undefined ? "" : ` [label=${dotString(`dial ${link.dial}`)}]`
    lines.push(`  ${dotString(a)} -- ${dotString(b)}${label};`)
  }
  lines.push("}")
  return lines.join("\n") + "\n"
}

// -----------------------------------------------------------------------------
// Mermaid
// -----------------------------------------------------------------------------

/** Mermaid ids allow few characters: keep letters and digits, encode the rest as `_<hex>_`. */
const mermaidId = (prefix: string, name: string): string =>
  prefix + name.replace(/[^A-Za-z0-9]/g, (c) => `_${c.charCodeAt(0).toString(16)}_`)

/** A Mermaid quoted label; `\n` in `text` becomes `<br/>`. */
const mermaidString = (text: string): string =>
  `"${text
    .replace(/&/g, "#amp;")
    .replace(/"/g, "#quot;")
    .replace(/</g, "#lt;")
    .replace(/>/g, "#gt;")
    .replace(/\r?\n/g, "<br/>")}"`

/**
 * Mermaid (`flowchart LR`): one `subgraph` per region, `---` edges between sites.
 *
 * @since 0.1.0
 * @category rendering
 */
export const toMermaid = (topology: Topology): string => {
  const { byRegion, orphans } = groups(topology)
  const node = (site: string, indent: string): string => {
    const { http, tcp } = topology.sites[site]
    return `${indent}${mermaidId("site_", site)}[${mermaidString(`${site}\ntcp ${tcp}\nhttp ${http}`)}]`
  }
  const lines = ["flowchart LR"]
  for (const [region, sites] of byRegion) {
    lines.push(`  subgraph ${mermaidId("region_", region)}[${mermaidString(regionLabel(topology, region))}]`)
    for (const site of sites) lines.push(node(site, "    "))
    lines.push("  end")
  }
  for (const site of orphans) lines.push(node(site, "  "))
  for (const link of sortedLinks(topology)) {
    const [a, b] = link.between
    const edge = link.dial === undefined ? "---" : `---|${mermaidString(`dial ${link.dial}`)}|`
    lines.push(`  ${mermaidId("site_", a)} ${edge} ${mermaidId("site_", b)}`)
  }
  return lines.join("\n") + "\n"
}
