/**
 * Location-transparent actor addresses: a site name plus an actor name. The same `tell`/`ask`
 * reaches a local actor or, through the router, one on another site.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * What a site or actor name matches: short, printable, no `@` or `/` so that `actor@site` is
 * unambiguous. (Codecs that read names off the wire test it directly.)
 *
 * @since 0.1.0
 * @category models
 */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/

/** Site and actor names ({@link NAME_PATTERN}). */
export const Name = Schema.String.pipe(
  Schema.pattern(NAME_PATTERN),
  Schema.annotations({ identifier: "Name", description: "letters, digits, _ . : - (at most 128)" })
)

/**
 * An actor address.
 *
 * @since 0.1.0
 * @category models
 */
export class Address extends Schema.Class<Address>("Address")({
  site: Name,
  actor: Name
}) {
  /** `actor@site`, the form used in logs, traces and dead letters. */
  override toString(): string {
    return `${this.actor}@${this.site}`
  }
}

/**
 * Builds an address without re-validating the names (callers pass names that came from a
 * validated topology or from code).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (site: string, actor: string): Address => new Address({ site, actor }, { disableValidation: true })

/**
 * Parses `actor@site`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const parse = (text: string): Address | undefined => {
  const at = text.lastIndexOf("@")
  if (at <= 0 || at === text.length - 1) return undefined
  const decoded = Schema.decodeUnknownEither(Address)({ actor: text.slice(0, at), site: text.slice(at + 1) })
  return decoded._tag === "Right" ? decoded.right : undefined
}
