/**
 * Group chat from the command line, against the `chat` module's HTTP API (`/v1/chat/...`):
 * `chat group create|show|edit|members`, `chat send GROUP TEXT`, `chat tail GROUP [--follow]`
 * (one module each in `chat/`).
 *
 * Exit codes are the client commands' (see `client.ts`): 0 done, 1 refused, 2 bad usage, 3 the
 * site could not be reached (after the retries), 4 not logged in.
 *
 * @since 0.1.0
 */
import * as Command from "@effect/cli/Command"
import { groupCommand } from "./chat/group.js"
import { sendCommand } from "./chat/send.js"
import { tailCommand } from "./chat/tail.js"
import type { Modules } from "./modules.js"

/** @since 0.1.0 */
export { sseDecoder, type SseEvent } from "./sse.js"

/**
 * `meridian chat group create|show|edit|members`, `chat send`, `chat tail`.
 *
 * @since 0.1.0
 * @category commands
 */
export const makeChatCommand = (modules: Modules) =>
  Command.make("chat").pipe(
    Command.withDescription("group chat: groups, sending, reading and following messages"),
    Command.withSubcommands([groupCommand(modules), sendCommand(modules), tailCommand(modules)])
  )
