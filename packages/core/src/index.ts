/**
 * Meridian's kernel: actors, mailboxes, supervision, envelopes, the module contract, the
 * topology and the stores. No Node APIs, so the same code runs in the simulator and in a site.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as Actor from "./kernel/Actor.js"
/** @since 0.1.0 */
export * as ActorSystem from "./kernel/ActorSystem.js"
/** @since 0.1.0 */
export * as Address from "./kernel/Address.js"
/** @since 0.1.0 */
export * as DeadLetters from "./kernel/DeadLetters.js"
/** @since 0.1.0 */
export * as Envelope from "./kernel/Envelope.js"
/** @since 0.1.0 */
export * as Errors from "./kernel/Errors.js"
/** @since 0.1.0 */
export * as Mailbox from "./kernel/Mailbox.js"
/** @since 0.1.0 */
export * as Module from "./site/Module.js"
/** @since 0.1.0 */
export * as Host from "./site/Host.js"
/** @since 0.1.0 */
export * as Protocol from "./kernel/Protocol.js"
/** @since 0.1.0 */
export * as Router from "./kernel/Router.js"
/** @since 0.1.0 */
export * as Site from "./site/Site.js"
/** @since 0.1.0 */
export * as Supervisor from "./kernel/Supervisor.js"
/** @since 0.1.0 */
export * as Ping from "./ping/Ping.js"
/** @since 0.1.0 */
export * from "./stores/index.js"
/** @since 0.1.0 */
export * from "./topology/index.js"
/** @since 0.1.0 */
export * as Routing from "./kernel/Routing.js"
/** @since 0.1.0 */
export * as Transport from "./transport/Transport.js"
/** @since 0.1.0 */
export * as Conformance from "./transport/Conformance.js"
/** @since 0.1.0 */
export * as Engine from "./sim/Engine.js"
/** @since 0.1.0 */
export * as Runner from "./sim/Runner.js"
/** @since 0.1.0 */
export * as Scenario from "./sim/Scenario.js"
/** @since 0.1.0 */
export * as SimNetwork from "./sim/SimNetwork.js"
/** @since 0.1.0 */
export * as SimHost from "./sim/SimHost.js"
/** @since 0.1.0 */
export * as Deadlines from "./kernel/Deadlines.js"
