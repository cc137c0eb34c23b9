// Lint: typescript-eslint's recommended rules, plus the house rules of the Effect codebase that
// matter here (no `any`, no unused code, type-only imports kept type-only), plus the arrows of the
// architecture (`no-restricted-imports`): cli → node → core; in core, systems → site layer →
// kernel, stores, topology, transport; never a system → another system.
import js from "@eslint/js"
import { readdirSync } from "node:fs"
import { builtinModules } from "node:module"
import tseslint from "typescript-eslint"

const core = "packages/core/src"
/** The layers below the systems; every other folder of core is a system (a new one is covered at once). */
const infrastructure = ["kernel", "stores", "topology", "transport", "internal"]
const layers = [...infrastructure, "site", "sim", "api"]
const systems = readdirSync(`${import.meta.dirname}/${core}`, { withFileTypes: true })
  .filter((entry) => entry.isDirectory() && !layers.includes(entry.name))
  .map((entry) => entry.name)
/** The built-in system the site layer starts on every site (and the site API serves). */
const builtin = "accounts"

const folders = (names) => names.map((name) => `../${name}/*`)
/** Node's built-in modules by their bare names (exact names: as patterns, "stream" would match "effect/Stream"). */
const nodeBuiltins = builtinModules
  .filter((name) => !name.startsWith("_"))
  .map((name) => ({ name, message: "core runs unchanged in the simulator: no Node APIs" }))
const restrict = (files, groups, paths = []) => ({
  files,
  rules: { "no-restricted-imports": ["error", { paths, patterns: groups }] }
})

const noHost = {
  group: [
    "@meridian/node",
    "@meridian/node/*",
    "@meridian/cli",
    "@meridian/cli/*",
    "@effect/platform-node",
    "@effect/platform-node/*",
    "@effect/platform-node-shared",
    "@effect/platform-node-shared/*",
    "node:*"
  ],
  message: "core runs unchanged in the simulator: no Node APIs, no @meridian/node, no @meridian/cli"
}

export default tseslint.config(
  {
    ignores: [
      "**/node_modules/**",
      "**/build/**",
      "**/dist/**",
      "packages/cli/bundle/**",
      "**/.meridian/**",
      "**/.prof/**"
    ]
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: { process: "readonly", console: "readonly", setTimeout: "readonly", clearTimeout: "readonly" }
    },
    rules: {
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/consistent-type-imports": ["error", { fixStyle: "inline-type-imports" }],
      "@typescript-eslint/ban-ts-comment": "error",
      "no-constant-condition": ["error", { checkLoops: false }],
      "require-yield": "off",
      // `interface X extends Schema.Schema.Type<typeof X> {}` is the Effect idiom for readable types.
      "@typescript-eslint/no-empty-object-type": ["error", { allowInterfaces: "with-single-extends" }]
    }
  },
  // The arrows. A later block for the same file replaces this rule, so each block repeats `noHost`.
  restrict([`${core}/**/*.ts`], [noHost], nodeBuiltins),
  restrict(
    infrastructure.map((folder) => `${core}/${folder}/**/*.ts`),
    [
      noHost,
      {
        group: folders(["site", "sim", "api", ...systems]),
        message: "the kernel and its stores, topology and transport know no system, no site layer, no simulator"
      }
    ],
    nodeBuiltins
  ),
  restrict(
    [`${core}/site/**/*.ts`],
    [
      noHost,
      {
        group: folders(["sim", "api", ...systems.filter((s) => s !== builtin)]),
        message: `the site layer knows no system but the built-in ${builtin}, and not the simulator`
      }
    ],
    nodeBuiltins
  ),
  restrict(
    [`${core}/sim/**/*.ts`],
    [noHost, { group: folders(systems), message: "the simulator runs whatever modules it is given: it imports none" }],
    nodeBuiltins
  ),
  ...systems.map((system) =>
    restrict(
      [`${core}/${system}/**/*.ts`],
      [
        noHost,
        {
          group: folders(["sim", ...systems.filter((s) => s !== system)]),
          message: `a system does not import another system or the simulator: reach accounts through context.accounts, other sites' modules through the kernel`
        }
      ],
      nodeBuiltins
    )
  ),
  restrict(
    ["packages/node/**/*.ts"],
    [{ group: ["@meridian/cli", "@meridian/cli/*"], message: "node binds core; only the cli imports node" }]
  )
)
