/**
 * The hello of a TCP connection, before any frame flows: acceptor → Challenge, dialer → Hello,
 * acceptor → Welcome. Each side proves, with an HMAC over both sides' nonces and a secret shared
 * by the topology, that it belongs to the deployment; a peer speaking another wire version,
 * naming a site that is not a neighbour, or a neighbour that is not the dialer of its link, is
 * refused.
 *
 * @since 0.1.0
 */
import type * as Socket from "@effect/platform/Socket"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto"
import { Closed, frameBytes, type Received } from "./Framing.js"

/**
 * Version of the wire protocol (hello and framing). A peer speaking another is refused.
 *
 * @since 0.1.0
 * @category constants
 */
export const WIRE_VERSION = 2

/** The hello: acceptor → Challenge, dialer → Hello, acceptor → Welcome. */
class Challenge extends Schema.TaggedClass<Challenge>()("Challenge", {
  version: Schema.Int,
  site: Schema.String,
  nonce: Schema.String
}) {}
class Hello extends Schema.TaggedClass<Hello>()("Hello", {
  version: Schema.Int,
  site: Schema.String,
  nonce: Schema.String,
  proof: Schema.String
}) {}
class Welcome extends Schema.TaggedClass<Welcome>()("Welcome", { proof: Schema.String }) {}
const HandshakeMessage = Schema.Union(Challenge, Hello, Welcome)
type HandshakeMessage = typeof HandshakeMessage.Type

const decodeHandshake = Schema.decodeUnknownEither(Schema.parseJson(HandshakeMessage))
const encodeHandshake = Schema.encodeSync(Schema.parseJson(HandshakeMessage))

const proof = (secret: string, role: "dial" | "accept", dialer: string, acceptor: string, a: string, b: string) =>
  createHmac("sha256", secret)
    .update(`meridian-hello|${WIRE_VERSION}|${role}|${dialer}|${acceptor}|${a}|${b}`)
    .digest("hex")

const sameProof = (a: string, b: string): boolean => {
  const x = Buffer.from(a, "utf8")
  const y = Buffer.from(b, "utf8")
  return x.length === y.length && timingSafeEqual(x, y)
}

/**
 * The hello of one connection, from either side (`dialing` names the peer this side called; an
 * accepting side learns its peer from the hello). The peer's site once both proofs check out.
 * Unbounded in time: the transport bounds it.
 *
 * @since 0.1.0
 * @category handshake
 */
export const exchange = (options: {
  readonly site: string
  readonly secret: string
  /** The sites this one has a link with. */
  readonly neighbours: ReadonlySet<string>
  /** The neighbours that dial this site: the only ones an accepting side takes a hello from. */
  readonly dialers: ReadonlySet<string>
  readonly dialing: string | undefined
  /** The connection's next frame. */
  readonly next: Effect.Effect<Received, Closed>
  readonly write: (chunk: Uint8Array) => Effect.Effect<void, Socket.SocketError>
}): Effect.Effect<string, Closed> => {
  const { site, secret, neighbours, dialers, dialing, next, write } = options
  const sendHandshake = (message: HandshakeMessage) =>
    write(frameBytes(encodeHandshake(message))).pipe(
      Effect.mapError((e) => new Closed({ reason: "socket", detail: e.message }))
    )
  const expect = <T extends HandshakeMessage["_tag"]>(tag: T) =>
    Effect.flatMap(next, (received) => {
      // The hello is JSON; a binary frame (or `null`, a malformed one) has no place in it.
      if (typeof received !== "string") {
        return Effect.fail(new Closed({ reason: "malformed-frame", detail: "hello did not decode" }))
      }
      const decoded = decodeHandshake(received)
      if (Either.isLeft(decoded)) {
        return Effect.fail(new Closed({ reason: "malformed-frame", detail: "hello did not decode" }))
      }
      if (decoded.right._tag !== tag) {
        return Effect.fail(new Closed({ reason: "unexpected-message", detail: `expected ${tag}` }))
      }
      return Effect.succeed(decoded.right as Extract<HandshakeMessage, { readonly _tag: T }>)
    })

  return Effect.gen(function* () {
    const nonce = randomBytes(16).toString("hex")
    if (dialing === undefined) {
      yield* sendHandshake(new Challenge({ version: WIRE_VERSION, site, nonce }))
      const hello = yield* expect("Hello")
      if (hello.version !== WIRE_VERSION) {
        return yield* new Closed({ reason: "wrong-version", detail: `version ${hello.version}` })
      }
      if (!neighbours.has(hello.site)) {
        return yield* new Closed({
          reason: "unknown-site",
          detail: `site ${JSON.stringify(hello.site).slice(0, 80)}`
        })
      }
      if (!sameProof(hello.proof, proof(secret, "dial", hello.site, site, nonce, hello.nonce))) {
        return yield* new Closed({ reason: "wrong-secret", detail: `site ${hello.site}` })
      }
      // One connection per link: only its first site dials (this site dials the others itself).
      if (!dialers.has(hello.site)) {
        return yield* new Closed({
          reason: "not-the-dialer",
          detail: `${hello.site} called, but ${site} is the one that dials ${hello.site}`
        })
      }
      yield* sendHandshake(new Welcome({ proof: proof(secret, "accept", hello.site, site, nonce, hello.nonce) }))
      return hello.site
    }
    const challenge = yield* expect("Challenge")
    if (challenge.version !== WIRE_VERSION) {
      return yield* new Closed({ reason: "wrong-version", detail: `version ${challenge.version}` })
    }
    if (challenge.site !== dialing) {
      return yield* new Closed({
        reason: "unknown-site",
        detail: `expected ${dialing}, answered ${challenge.site}`
      })
    }
    yield* sendHandshake(
      new Hello({
        version: WIRE_VERSION,
        site,
        nonce,
        proof: proof(secret, "dial", site, dialing, challenge.nonce, nonce)
      })
    )
    const welcome = yield* expect("Welcome")
    if (!sameProof(welcome.proof, proof(secret, "accept", site, dialing, challenge.nonce, nonce))) {
      return yield* new Closed({ reason: "wrong-secret", detail: `site ${dialing}` })
    }
    return dialing
  })
}
