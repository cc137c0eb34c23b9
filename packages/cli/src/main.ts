/**
 * Entry point of the `meridian` binary. `meridian --version` is answered here, before the command
 * line (cli.ts: @effect/cli, effect, every command's flags) is loaded, which is most of the time
 * any other command takes to start; the answer is @effect/cli's for the same argument.
 *
 * @since 0.1.0
 */
import { VERSION } from "./version.js"

const argv = process.argv.slice(2)
if (argv.length === 1 && argv[0] === "--version") {
  // As @effect/cli prints it, blank line included.
  process.stdout.write(`${VERSION}\n\n`)
} else {
  await import("./cli.js")
}
